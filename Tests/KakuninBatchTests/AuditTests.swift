import Foundation
import Testing
import KakuninTesting

@Suite("kakunin audit verify")
struct AuditTests {
    func trail(_ tdb: TestDatabase) throws {
        let dir = try temporaryDirectory()
        for n in 1...3 {
            let f = try FeedFiles.write(dir, "m\(n).csv", [FeedFiles.memberHeader, FeedFiles.member("M1", ["address": "住所\(n)"])])
            #expect(try runKakunin(["import", "members", f.path, "--report-dir", dir.path], database: tdb).status == 0)
        }
    }

    @Test("an intact trail verifies")
    func intact() throws {
        let tdb = try TestDatabase()
        try trail(tdb)
        let r = try runKakunin(["audit", "verify"], database: tdb)
        #expect(r.status == 0)
        #expect(r.stdout.contains("audit trail verified: 3 events, 1 … 3"))
    }

    @Test("a changed event is found, even by someone who bypassed the trigger")
    func changed() throws {
        let tdb = try TestDatabase()
        try trail(tdb)
        let db = try tdb.connect()
        try db.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_chain")
        try db.execute("UPDATE audit_event SET details = details || '{\"rows_loaded\": \"0\"}' WHERE event_id = 2")
        let r = try runKakunin(["audit", "verify"], database: tdb)
        #expect(r.status == 1)
        #expect(r.stdout.contains("BROKEN at event 2: its content does not match its hash"))
    }

    @Test("a deleted event breaks the link of the next one")
    func deleted() throws {
        let tdb = try TestDatabase()
        try trail(tdb)
        let db = try tdb.connect()
        try db.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_chain")
        try db.execute("DELETE FROM audit_event WHERE event_id = 2")
        let r = try runKakunin(["audit", "verify"], database: tdb)
        #expect(r.status == 1)
        #expect(r.stdout.contains("BROKEN at event 3: does not link to event 1"))
    }
}
