import Foundation
import KakuninStore
import KakuninTesting
import Testing

@Suite("Migrations")
struct MigrationTests {
    let sqlDir = TestDatabase.repositoryRoot.appendingPathComponent("sql")

    @Test("from an empty database every file applies once; a re-run applies nothing")
    func fromEmpty() throws {
        let tdb = try TestDatabase(empty: true)
        let db = try tdb.connect()
        let migrator = try Migrator(directory: sqlDir)
        #expect(migrator.migrations.count >= 4)
        #expect(try migrator.status(db).allSatisfy { $0.status == .pending })
        let applied = try migrator.migrate(db)
        #expect(applied == migrator.migrations.map(\.name))
        #expect(try migrator.migrate(db).isEmpty)
        #expect(try migrator.status(db).allSatisfy { $0.status == .applied })
        for table in [
            "member", "myna_status", "application", "certificate", "notice", "run", "decision",
            "audit_event", "import", "import_reject", "member_history", "insurer",
        ] {
            #expect(try db.query("SELECT to_regclass($1) IS NOT NULL", ["kakunin.\(table)"]).scalar == "t", "\(table)")
        }
        // decision is partitioned.
        #expect(try db.query("SELECT relkind FROM pg_class WHERE oid = 'kakunin.decision'::regclass").scalar == "p")
    }

    @Test("an applied file that was edited stops the migration, naming the file")
    func editedFile() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        let copy = try temporaryDirectory()
        for m in try Migrator(directory: sqlDir).migrations {
            try m.sql.write(to: copy.appendingPathComponent(m.name), atomically: true, encoding: .utf8)
        }
        let edited = copy.appendingPathComponent("002_feeds.sql")
        try (try String(contentsOf: edited, encoding: .utf8) + "\n-- edited\n").write(to: edited, atomically: true, encoding: .utf8)
        try "CREATE TABLE later (x int);".write(to: copy.appendingPathComponent("099_later.sql"), atomically: true, encoding: .utf8)
        let migrator = try Migrator(directory: copy)
        let e = #expect(throws: MigrationError.self) { try migrator.migrate(db) }
        #expect(e?.message.contains("002_feeds.sql") == true)
        #expect(try migrator.status(db).first { $0.name == "002_feeds.sql" }?.status == .edited)
        // Nothing after the refusal was applied.
        #expect(try db.query("SELECT to_regclass('kakunin.later') IS NULL").scalar == "t")
    }

    @Test("a new numbered file is applied on top of the existing schema")
    func newFile() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        let copy = try temporaryDirectory()
        for m in try Migrator(directory: sqlDir).migrations {
            try m.sql.write(to: copy.appendingPathComponent(m.name), atomically: true, encoding: .utf8)
        }
        try "CREATE TABLE later (x int);".write(to: copy.appendingPathComponent("099_later.sql"), atomically: true, encoding: .utf8)
        #expect(try Migrator(directory: copy).migrate(db) == ["099_later.sql"])
        #expect(try db.query("SELECT to_regclass('kakunin.later') IS NOT NULL").scalar == "t")
    }

    @Test("audit events are written only through audit_append, which sets actor and time, and cannot be changed")
    func auditAppend() throws {
        let tdb = try TestDatabase()
        let db = try tdb.connect()
        for a in ["one", "two"] {
            try db.execute("SELECT audit_append($1, NULL, NULL, NULL, NULL, '{}')", [a])
        }
        #expect(
            try db.query("SELECT action, actor = session_user FROM audit_event ORDER BY event_id").rows == [["one", "t"], ["two", "t"]])
        #expect(try db.query("SELECT audit_seal()").scalar == "2")
        #expect(try db.query("SELECT count(*) FROM audit_log").scalar == "2")
        let e = #expect(throws: DatabaseError.self) { try db.execute("UPDATE audit_event SET action = 'forged'") }
        #expect(e?.message.contains("cannot be changed") == true)
        #expect(throws: DatabaseError.self) { try db.execute("TRUNCATE audit_event CASCADE") }
        #expect(throws: DatabaseError.self) { try db.execute("DELETE FROM audit_log") }
    }
}
