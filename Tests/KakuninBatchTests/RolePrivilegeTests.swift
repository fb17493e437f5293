import Foundation
import KakuninStore
import KakuninTesting
import Testing

/// Issue 28 item 8: least privilege, role by role. For each group role a login of that role
/// tries every table of the schema (select, insert, update, delete, truncate) and the test
/// compares what it could do with the rights documented here (and in the README's "Database
/// roles"); it also lists every SECURITY DEFINER function the role may execute (those run with
/// the owner's rights, so they are the role's real powers) against the documented list.
///
/// Letters: r select, a insert, w update (of at least one column), d delete, D truncate.
@Suite("Least privilege, role by role", .serialized)
struct RolePrivilegeTests {
    static let tables: [String: [String: String]] = [
        "kakunin_batch": [
            "application": "raw", "audit_checkpoint": "r", "audit_event": "r", "audit_log": "r", "certificate": "ra",
            "certificate_counter": "r", "decision": "ra", "establishment": "raw", "establishment_history": "r", "fact_change": "r",
            "import": "raw",
            "import_reject": "ra", "insurer": "raw",
            "audit_entries": "r", "insurer_parameter_version": "r", "insurer_parameters": "r", "mail_return": "r", "member": "raw",
            "member_history": "r", "myna_status": "raw",
            "notice": "raw", "run": "raw", "schema_migrations": "", "staff_scope": "r",
        ],
        "kakunin_staff": [
            "application": "r", "audit_checkpoint": "r", "audit_event": "r", "certificate": "r", "certificate_counter": "r",
            "decision": "r",
            "establishment": "r", "establishment_history": "r", "import": "r", "insurer": "r", "insurer_parameter_version": "r",
            "insurer_parameters": "r", "mail_return": "raw", "member": "r", "member_history": "r", "myna_status": "r",
            "notice": "r", "run": "r", "staff_scope": "r",
        ],
        // Everything but the log's private queues and the console's people, sessions and failures.
        "kakunin_auditor": [
            "audit_pending": "", "audit_pending_certificate": "", "console_login_failure": "", "console_secret": "", "console_session": "",
            "console_user": "", "member_deferred_ddl": "",
        ],
        "kakunin_console": [
            "console_login_failure": "r", "console_session": "rw", "console_user": "r", "insurer": "r",
            "insurer_parameter_version": "r", "insurer_parameters": "r", "staff_scope": "r",
        ],
    ]

    static let definerFunctions: [String: Set<String>] = [
        "kakunin_batch": [
            "audit_append(text,text,text,bigint,bigint,jsonb)", "audit_checkpoint_store(text,jsonb)", "audit_console(text,text,text,jsonb)",
            "audit_seal()",
            "certificate_log_coverage(text,bigint)", "certificate_numbers_reserve(bigint,bigint)",
            "certificate_numbers_return(bigint,bigint)", "decision_partition_drop(date)",
            "ensure_decision_partition(date)", "insurer_parameters_set(text,date,text,text,text)", "member_bulk_load_begin()",
            "member_bulk_load_end()",
            "member_kana_search(text,text,text,date,integer,integer)", "member_kana_search_after(text,text,text,date,text,text,integer)",
            "run_apply_changes(bigint)",
        ],
        "kakunin_staff": [
            "application_add(text,text,text,date,text,text,text,text,jsonb)", "application_decide(text,bigint,boolean,text,text)",
            "audit_append(text,text,text,bigint,bigint,jsonb)", "audit_console(text,text,text,jsonb)",
            "certificate_log_coverage(text,bigint)",
            "certificate_void(text,bigint,text,date,text)", "consideration_end(text,text,date,text,text)",
            "counter_issue_certificate(text,text,text,text[],date,date,date,bigint,bigint,boolean,bigint,text,jsonb)",
            "member_kana_search(text,text,text,date,integer,integer)", "member_kana_search_after(text,text,text,date,text,text,integer)",
        ],
        "kakunin_auditor": [
            "audit_console(text,text,text,jsonb)", "certificate_log_coverage(text,bigint)",
            "member_kana_search(text,text,text,date,integer,integer)", "member_kana_search_after(text,text,text,date,text,text,integer)",
        ],
        // Logins, sessions and people management, each audited (sql/023).
        "kakunin_console": [
            "console_login_attempt(bytea,text)", "console_login_failed(bigint)", "console_login_succeeded(bigint,bytea,text)",
            "console_logout(bytea)", "console_user_disable(text,text)", "console_user_enable(text,text)", "console_user_unlock(text,text)",
        ],
    ]

    /// Every base table, view and partitioned table of the schema (not partitions: they are
    /// reached through their parent).
    static func relations(_ db: Connection) throws -> [(name: String, kind: String)] {
        try db.query(
            """
            SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'kakunin' AND c.relkind IN ('r', 'v', 'p') AND NOT c.relispartition ORDER BY 1
            """
        ).rows.map { ($0[0]!, $0[1]!) }
    }

    /// What a login can really do to `table`: each statement touches no row, so only the
    /// privilege check decides (42501), inside a transaction that is rolled back.
    static func tried(_ c: Connection, _ table: String, kind: String, admin: Connection, role: String) throws -> String {
        let quoted = "kakunin.\"\(table)\""
        let column = try admin.query(
            """
            SELECT a.attname FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attgenerated = '' AND a.attidentity = ''
            ORDER BY has_column_privilege($2, a.attrelid, a.attnum, 'UPDATE') DESC, a.attnum LIMIT 1
            """, [quoted, role]
        ).scalar!
        let statements: [(Character, String)] = [
            ("r", "SELECT 1 FROM \(quoted) WHERE false"),
            ("a", "INSERT INTO \(quoted) OVERRIDING SYSTEM VALUE SELECT (NULL::\(quoted)).* WHERE false"),
            ("w", "UPDATE \(quoted) SET \"\(column)\" = NULL WHERE false"),
            ("d", "DELETE FROM \(quoted) WHERE false"),
            ("D", "TRUNCATE \(quoted)"),
        ]
        var can = ""
        for (letter, sql) in statements {
            if kind == "v" && letter != "r" {
                // Views are read-only: only the privilege is asked.
                let privilege = ["a": "INSERT", "w": "UPDATE", "d": "DELETE", "D": "TRUNCATE"][letter]!
                if try admin.query("SELECT has_table_privilege($1, $2, $3)", [role, quoted, privilege]).scalar == "t" {
                    can.append(letter)
                }
                continue
            }
            try c.execute("BEGIN")
            do {
                try c.execute(sql)
                can.append(letter)
            } catch let e as DatabaseError where e.sqlState == "42501" {
            } catch let e as DatabaseError {
                // Refused for another reason after the privilege check passed (a trigger, a
                // constraint): the right is there.
                if e.sqlState != "25P02" { can.append(letter) }
            }
            try c.execute("ROLLBACK")
        }
        return can
    }

    @Test(
        "each group role can do exactly its documented rights to every table, and execute exactly its documented SECURITY DEFINER functions",
        arguments: ["kakunin_batch", "kakunin_staff", "kakunin_auditor", "kakunin_console"])
    func rights(group: String) throws {
        let tdb = try TestDatabase()
        let admin = try tdb.connect()
        let role = "priv_\(group.dropFirst("kakunin_".count))_\(UInt32.random(in: 0...UInt32.max))"
        try admin.execute("CREATE ROLE \(role) LOGIN IN ROLE \(group)")
        defer {
            try? admin.execute("DROP OWNED BY \(role)")
            try? admin.execute("DROP ROLE \(role)")
        }
        let login = try Connection(url: "\(tdb.url) user=\(role)")
        let auditorReadsAll = group == "kakunin_auditor"
        var mismatches: [String] = []
        for (table, kind) in try Self.relations(admin) {
            let can = try Self.tried(login, table, kind: kind, admin: admin, role: role)
            let documented = Self.tables[group]?[table] ?? (auditorReadsAll ? "r" : "")
            if can != documented { mismatches.append("\(table): can \"\(can)\", documented \"\(documented)\"") }
        }
        #expect(mismatches.isEmpty, "\(group):\n\(mismatches.joined(separator: "\n"))")
        let executable = Set(
            try admin.query(
                """
                SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'kakunin' AND p.prosecdef AND p.prorettype <> 'trigger'::regtype AND has_function_privilege($1, p.oid, 'EXECUTE')
                """, [role]
            ).rows.map { $0[0]!.replacingOccurrences(of: "kakunin.", with: "") })
        let documented = Self.definerFunctions[group] ?? []
        #expect(
            executable == documented,
            "\(group): undocumented \(executable.subtracting(documented).sorted()), documented but not executable \(documented.subtracting(executable).sorted())"
        )
    }
}
