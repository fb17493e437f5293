import KakuninRuntime
import KakuninStore

public enum Insurers {
    /// Every insurer number the database knows, in order.
    public static func all(_ db: Connection) throws -> [String] {
        try db.query("SELECT insurer_number FROM insurer ORDER BY 1").typedRows.map { try $0.text(0) }
    }

    /// A mistyped insurer must fail loudly (exit 66) and create nothing; the fix lists the
    /// insurers the database knows.
    public static func require(_ db: Connection, _ insurer: String) throws {
        guard try db.query("SELECT 1 FROM insurer WHERE insurer_number = $1", [insurer]).rows.isEmpty else { return }
        let known = try db.query(
            """
            SELECT string_agg(insurer_number, ', ' ORDER BY insurer_number) FROM (SELECT insurer_number FROM insurer ORDER BY 1 LIMIT 20) k
            """
        ).scalar
        throw OperatorError(
            .notFound, "unknown insurer \(insurer): no member of it was ever imported; nothing was done",
            fix: known.map { "check the insurer number (known: \($0)), or import its members first" }
                ?? "import the insurer's members first (kakunin import members FILE)")
    }
}

public enum BatchLogin {
    /// PostgreSQL refuses `COPY FROM` into a table with row-level security for a role its
    /// policies apply to (sql/011 scopes counter staff by insurer). A batch login therefore needs
    /// BYPASSRLS (or to be the owner); say so before anything starts, not with a bare 0A000.
    public static func requireBypassRLS(_ db: Connection) throws {
        let r = try db.query(
            """
            SELECT pg_has_role(current_user, 'kakunin_batch', 'USAGE'),
                   ro.rolsuper OR ro.rolbypassrls OR pg_has_role(current_user, c.relowner, 'USAGE'), current_user
            FROM pg_roles ro, pg_class c WHERE ro.rolname = current_user AND c.oid = 'member'::regclass
            """
        ).firstRow
        guard let r, try r.bool(0), try !r.bool(1) else { return }
        let login = try r.text(2)
        throw OperatorError(
            .noPermission,
            "login \(login) holds kakunin_batch but is subject to row-level security, under which PostgreSQL refuses the COPY the batch writes with",
            fix: "as a superuser: ALTER ROLE \(login) BYPASSRLS (README, Database roles)")
    }
}
