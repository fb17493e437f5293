import Foundation
import KakuninStore
import KakuninTesting
import Testing

@testable import KakuninAudit
@testable import KakuninBatch
@testable import KakuninRuntime

/// Issue 28, items 6, 7, 15 and 16: the log against its own database and against forged files.
extension AuditTests {
    /// A LOGIN role of `group` with a random name, and a connection as it.
    func login(_ group: String) throws -> Connection {
        let name = "t_\(group)_\(UInt32.random(in: 0...UInt32.max))"
        try tdb.connect().execute("CREATE ROLE \(name) LOGIN IN ROLE \(group)")
        return try Connection(url: "dbname=\(tdb.name) user=\(name)")
    }

    var script: String { TestDatabase.repositoryRoot.appendingPathComponent("jobs/verify-proof-openssl").path }

    func readLines(_ url: URL) throws -> [String] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    func write(_ lines: [String], _ url: URL) throws {
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
    }

    // MARK: item 6

    @Test("item 6: no role inserts a checkpoint; the store function refuses a frontier that does not hash to the signed root")
    func batchCannotPlantCheckpoints() throws {
        try night("2026-11-21")
        let db = try tdb.connect()
        let stored = try db.query("SELECT log_size::text, signed_text FROM audit_checkpoint ORDER BY checkpoint_id DESC LIMIT 1").rows[0]
        let size = Int(stored[0]!)!
        let batch = try login("kakunin_batch")
        let refused = #expect(throws: DatabaseError.self) {
            try batch.execute(
                """
                INSERT INTO audit_checkpoint (log_size, root_hash, frontier, signed_text) VALUES ($1, '\\x00', '[]', $2)
                """, [String(size), stored[1]])
        }
        #expect(refused?.sqlState == "42501", "\(String(describing: refused))")
        // The real signed text with a forged frontier (right sizes, made-up hashes; or one subtree
        // of the whole size holding the root) is refused by the function too.
        let sizes = (0..<40).reversed().map { 1 << $0 }.filter { size & $0 != 0 }
        let forged = "[" + sizes.map { "[\($0),\"\(String(repeating: "ab", count: 32))\"]" }.joined(separator: ",") + "]"
        let root = try db.query("SELECT encode(root_hash, 'hex') FROM audit_checkpoint ORDER BY checkpoint_id DESC LIMIT 1").scalar!
        for frontier in [forged, "[[\(size),\"\(root)\"]]"] {
            #expect(throws: DatabaseError.self) {
                try batch.execute("SELECT audit_checkpoint_store($1, $2::jsonb)", [stored[1], frontier])
            }
        }
        #expect(try db.query("SELECT count(*) FROM audit_checkpoint").scalar == "1")
        // kakunin's own path still stores one.
        _ = try checkpoint("cp.txt")
        #expect(try db.query("SELECT count(*) FROM audit_checkpoint").scalar == "2")
    }

    @Test("item 6: a checkpoint row planted by the owner is refused by the next audit checkpoint (exit 30), not signed over")
    func plantedCheckpointRefused() throws {
        try night("2026-11-21")
        let db = try tdb.connect()
        let row = try db.query("SELECT log_size::text, encode(root_hash, 'hex'), signed_text FROM audit_checkpoint").rows[0]
        let size = Int(row[0]!)!
        // 1. A made-up root and frontier, with a text the key never signed.
        let fake = String(repeating: "cd", count: 32)
        let unsigned = row[2]!.replacingOccurrences(of: row[1]!, with: fake)
        try db.execute(
            """
            INSERT INTO audit_checkpoint (log_size, root_hash, frontier, signed_text) VALUES ($1, decode($2, 'hex'), $3::jsonb, $4)
            """, [String(size), fake, "[[\(size),\"\(fake)\"]]", unsigned])
        var r = try runKakunin(["audit", "checkpoint", "--key", key.path], database: tdb)
        #expect(r.status == 30, "\(r.stdout)\(r.stderr)")
        #expect(
            r.stderr.contains("does not carry a valid signature of this key") && r.stderr.contains("does not build a checkpoint on it"),
            "\(r.stderr)")
        #expect(try db.query("SELECT count(*) FROM audit_checkpoint").scalar == "2")
        // 2. The real signed text with a frontier of one subtree holding the whole root (it folds
        //    to the root, but the next entries would hang off it): refused.
        try db.execute("ALTER TABLE audit_checkpoint DISABLE TRIGGER audit_checkpoint_immutable")
        try db.execute("DELETE FROM audit_checkpoint WHERE signed_text = $1", [unsigned])
        try db.execute("ALTER TABLE audit_checkpoint ENABLE TRIGGER audit_checkpoint_immutable")
        try db.execute(
            """
            INSERT INTO audit_checkpoint (log_size, root_hash, frontier, signed_text) VALUES ($1, decode($2, 'hex'), $3::jsonb, $4)
            """, [String(size), row[1], "[[\(size),\"\(row[1]!)\"]]", row[2]])
        try db.execute("SELECT audit_append('member_viewed', '131016', 'A', NULL, NULL, '{}')")
        r = try runKakunin(["audit", "checkpoint", "--key", key.path], database: tdb)
        #expect(r.status == 30, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("has a frontier that does not hash to its signed root"), "\(r.stderr)")
        // Recomputing from the entries signs the true root, which verifies.
        let cp = dir.appendingPathComponent("recomputed.txt")
        r = try runKakunin(["audit", "checkpoint", "--key", key.path, "--recompute", "--output", cp.path], database: tdb)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try verify(cp, leaves: false).status == 0)
    }

    // MARK: item 7

    @Test(
        "item 7: an event edited and a function redefined to serve its signed bytes is caught; db status names the function and the disabled trigger"
    )
    func redefinedObjectsDoNotFoolVerify() throws {
        try night("2026-11-21")
        try tdb.removeTestParameters()
        let cp = try checkpoint("cp.txt")
        var status = try runKakunin(["db", "status"], database: tdb)
        #expect(status.status == 0 && status.stdout.contains("as the migrations made it"), "\(status.stdout)\(status.stderr)")
        let db = try tdb.connect()
        let event = try db.query("SELECT event_id::text FROM audit_event WHERE action = 'run_decided'").scalar!
        try db.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_immutable")
        try db.execute("UPDATE audit_event SET details = details || '{\"certificates_issued\": 2}' WHERE event_id = $1", [event])
        // The owner makes the view's function serve the event as it was.
        try db.execute(
            """
            CREATE OR REPLACE FUNCTION audit_event_entry(e audit_event) RETURNS text
            LANGUAGE sql IMMUTABLE SET search_path = kakunin, pg_temp AS $$
                SELECT jsonb_build_object('type', 'event', 'event_id', e.event_id,
                    'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                    'actor', e.actor, 'client', e.host, 'action', e.action, 'insurer_number', e.insurer_number,
                    'member_id', e.member_id, 'run_id', e.run_id, 'import_id', e.import_id,
                    'details', CASE WHEN e.action = 'run_decided' THEN e.details - 'certificates_issued' ELSE e.details END)::text
            $$
            """)
        let r = try verify(cp)
        #expect(r.status == 13, "\(r.stdout)")
        #expect(r.stdout.contains("do not hash to the checkpoint's root"), "\(r.stdout)")
        status = try runKakunin(["db", "status"], database: tdb)
        #expect(status.status == 33, "\(status.stdout)\(status.stderr)")
        #expect(status.stdout.contains("changed  function kakunin.audit_event_entry(kakunin.audit_event)"), "\(status.stdout)")
        #expect(status.stdout.contains("changed  trigger audit_event_immutable on kakunin.audit_event"), "\(status.stdout)")
        // A grant made outside the migrations is reported too.
        try db.execute("GRANT INSERT ON audit_checkpoint TO kakunin_staff")
        status = try runKakunin(["db", "status"], database: tdb)
        #expect(status.stdout.contains("changed  table kakunin.audit_checkpoint"), "\(status.stdout)")
    }

    @Test(
        "item 7: a log and checkpoint made before sql/024 (format 1, jsonb text) still verify and are extended after it; new entries are format 2"
    )
    func formatOneLogStillVerifies() throws {
        let old = try TestDatabase(empty: true)
        let sqlDir = TestDatabase.repositoryRoot.appendingPathComponent("sql")
        let before = dir.appendingPathComponent("sql-before-024")
        try FileManager.default.createDirectory(at: before, withIntermediateDirectories: true)
        // The log as it was before sql/024, under a schema today's import and run can use: with
        // the columns they read that later migrations add on their own (sql/027, the notices'
        // validity dates; sql/028, the Myna usage counts; sql/030, the optional member columns;
        // sql/031, the certificates' printed snapshots; sql/032, the establishments and the
        // returned mail's establishment; sql/033, the decisions' review dates and facts digests;
        // sql/041, the change stamps and review_due that incremental nights read),
        // which touch nothing of the audit log.
        for f in try FileManager.default.contentsOfDirectory(atPath: sqlDir.path)
        where f.hasSuffix(".sql")
            && (Int(f.prefix(3))! < 24 || ["027_", "028_", "030_", "031_", "032_", "033_", "041_"].contains { f.hasPrefix($0) })
        {
            try FileManager.default.copyItem(at: sqlDir.appendingPathComponent(f), to: before.appendingPathComponent(f))
        }
        let db = try old.connect()
        try Migrator(directory: before).migrate(db)
        try NightlyRunTests().scenario(old, dir)
        #expect(try setParameters(old, from: "2026-01-01", ["insurer_name = テスト保険者131016"]).status == 0)
        let run = try runKakunin(
            ["run", "--insurer", "131016", "--as-of", "2026-11-21", "--out", out.path, "--params-dir", dir.path],
            database: old)
        #expect(run.status == 0 || run.status == 11, "\(run.stdout)\(run.stderr)")
        // The checkpoint as kakunin made it then: leaves from the audit_entries view, stored with
        // its frontier.
        var acc = Merkle.Accumulator()
        for row in try db.query("SELECT entry FROM audit_entries ORDER BY log_index").rows {
            acc.add(leaf: Merkle.leaf(Array(row[0]!.utf8)))
        }
        #expect(acc.count > 5)
        var cp = Checkpoint(origin: "kakunin:\(old.name)", size: acc.count, root: acc.root, time: "2026-11-21T20:00:00Z")
        try cp.sign(AuditKeys.privateKey(pem: AuditKeys.load(key.path), file: key.path))
        let frontier = "[" + acc.frontier.map { "[\($0.size),\"\($0.hash.hexString)\"]" }.joined(separator: ",") + "]"
        try db.execute(
            """
            INSERT INTO audit_checkpoint (log_size, root_hash, frontier, signed_text) VALUES ($1, decode($2, 'hex'), $3::jsonb, $4)
            """, [String(cp.size), cp.root.hexString, frontier, cp.text])
        let first = dir.appendingPathComponent("v1.txt")
        try cp.text.write(to: first, atomically: true, encoding: .utf8)

        try Migrator(directory: sqlDir).migrate(db)
        #expect(try db.query("SELECT entry_format, count(*) FROM audit_log GROUP BY 1").rows == [["1", String(acc.count)]])
        let again = try runKakunin(
            [
                "run", "--insurer", "131016", "--as-of", "2026-11-22", "--out", out.path, "--params-dir", dir.path,
                "--audit-key", key.path,
            ], database: old)
        #expect(again.status == 0 || again.status == 11, "\(again.stdout)\(again.stderr)")
        #expect(try db.query("SELECT count(*) FROM audit_log WHERE entry_format = 2").scalar != "0")
        let second = out.appendingPathComponent("131016/2026-11-22/nightly/checkpoint.txt")
        let r = try runKakunin(
            ["audit", "verify", "--checkpoint", second.path, "--older", first.path, "--public-key", pub.path], database: old)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("it extends the checkpoint of \(acc.count) entries"), "\(r.stdout)")
    }

    @Test("item 7: an entry of format 2 is RFC 8785 JSON that show-entry prints and a leaf an auditor recomputes with openssl")
    func formatTwoEntryReproducible() throws {
        try night("2026-11-21")
        let db = try tdb.connect()
        let index = try db.query("SELECT log_index::text FROM audit_log WHERE certificate_number = 2").scalar!
        let shown = try runKakunin(["audit", "show-entry", index], database: tdb)
        #expect(shown.status == 0)
        let entry = shown.stdout.trimmingCharacters(in: .newlines)
        #expect(entry.hasPrefix("{\"application_id\":") && entry.contains("\"certificate_number\":2,") && !entry.contains(": "), "\(entry)")
        // The bytes are those of the object re-encoded with sorted keys and no spaces.
        let object = try JSONSerialization.jsonObject(with: Data(entry.utf8))
        let resorted = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        #expect(String(decoding: resorted, as: UTF8.self) == entry)
        // The leaf is SHA-256(0x00 ‖ entry) (the leaves file holds it at the entry's index).
        let file = dir.appendingPathComponent("entry.txt")
        try entry.write(to: file, atomically: true, encoding: .utf8)
        let leaves = try checkpoint("cp.txt").path + ".leaves"
        let want = try Data(contentsOf: URL(fileURLWithPath: leaves)).dropFirst(Int(index)! * 32).prefix(32)
        #expect(Merkle.leaf(Array(entry.utf8)) == Array(want))
        #expect(
            try sh(
                "[ \"$( { printf '\\0'; cat '\(file.path)'; } | openssl dgst -sha256 -hex | sed 's/^.*= //')\" = '\(Array(want).hexString)' ]"
            ) == 0)
    }

    @Test("item 7: a consistency proof between two checkpoints checks offline with kakunin and openssl; a tampered one does not")
    func consistencyProof() throws {
        try night("2026-11-21")
        let first = out.appendingPathComponent("131016/2026-11-21/nightly/checkpoint.txt")
        try night("2026-11-22")
        let second = try checkpoint("cp2.txt")
        let proof = dir.appendingPathComponent("consistency.txt")
        let made = try runKakunin(
            ["audit", "consistency", "--older", first.path, "--newer", second.path, "--output", proof.path], database: tdb)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try FileManager.default.attributesOfItem(atPath: proof.path)[.posixPermissions] as? Int == 0o600)
        var v = try runKakunin(["audit", "verify-proof", proof.path, "--public-key", pub.path], database: nil)
        #expect(
            v.status == 0 && v.stdout.contains("proof valid: the log of") && v.stdout.contains("extends the log of"),
            "\(v.stdout)\(v.stderr)")
        #expect(try sh("'\(script)' '\(proof.path)' '\(pub.path)' | grep -q 'consistency proof OK'") == 0)
        // Without the key: not verified.
        v = try runKakunin(["audit", "verify-proof", proof.path], database: nil)
        #expect(v.status == 31 && v.stdout.contains("unsigned, not verified"), "\(v.stdout)")
        // A changed hash, or a newer size, fails both checks.
        let lines = try readLines(proof)
        let h = lines.firstIndex { $0.hasPrefix("hash: ") }!
        var bad = lines
        bad[h] = "hash: " + String(repeating: "0", count: 64)
        let tampered = dir.appendingPathComponent("tampered.txt")
        try write(bad, tampered)
        #expect(try runKakunin(["audit", "verify-proof", tampered.path, "--public-key", pub.path], database: nil).status == 13)
        #expect(try sh("'\(script)' '\(tampered.path)' '\(pub.path)'") != 0)
        bad = lines
        bad[2] = "newer-size: 1"
        try write(bad, tampered)
        #expect(try runKakunin(["audit", "verify-proof", tampered.path, "--public-key", pub.path], database: nil).status == 13)
        #expect(try sh("'\(script)' '\(tampered.path)' '\(pub.path)'") != 0)
        // A log changed since: no proof is made (exit 32).
        try tdb.connect().execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_immutable")
        try tdb.connect().execute("UPDATE audit_event SET actor = 'someone' WHERE event_id = (SELECT min(event_id) FROM audit_event)")
        let refused = try runKakunin(["audit", "consistency", "--older", first.path, "--newer", second.path], database: tdb)
        #expect(refused.status == 32, "\(refused.stdout)\(refused.stderr)")
    }

    // MARK: item 15

    @Test("item 15: a deleted position with the rest renumbered is named as the first entry that differs, with and without --leaves")
    func deletedAndRenumbered() throws {
        try night("2026-11-21")
        _ = try checkpoint("a.txt")
        let db = try tdb.connect()
        let gone = Int(try db.query("SELECT count(*) FROM audit_log").scalar!)!
        try db.execute("SELECT audit_append('member_viewed', '131016', 'A', NULL, NULL, '{}')")
        _ = try checkpoint("b.txt")
        try db.execute("SELECT audit_append('member_viewed', '131016', 'B', NULL, NULL, '{}')")
        try db.execute("SELECT audit_append('member_viewed', '131016', 'C', NULL, NULL, '{}')")
        let c = try checkpoint("c.txt")
        try db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_immutable")
        try db.execute("DELETE FROM audit_log WHERE log_index = $1", [String(gone)])
        try db.execute("UPDATE audit_log SET log_index = log_index + 1000000 WHERE log_index > $1", [String(gone)])
        try db.execute("UPDATE audit_log SET log_index = log_index - 1000001 WHERE log_index > 1000000")
        var r = try verify(c)
        #expect(r.status == 13)
        #expect(r.stdout.contains("the first entry that differs from the checkpoint's leaves is \(gone)"), "\(r.stdout)")
        #expect(!r.stdout.contains("were deleted\n"), "\(r.stdout)")
        r = try verify(c, leaves: false)
        #expect(r.status == 13)
        #expect(r.stdout.contains("the first entry that differs is \(gone) "), "\(r.stdout)")
    }

    // MARK: item 16

    @Test("item 16: the openssl script binds the index and refuses entry lines kakunin refuses; verify-proof without a key is not verified")
    func proofsBindTheIndex() throws {
        try night("2026-11-21")
        _ = try checkpoint("cp.txt")
        let proof = dir.appendingPathComponent("proof.txt")
        #expect(
            try runKakunin(["audit", "prove", "--insurer", "131016", "--certificate", "2", "--output", proof.path], database: tdb).status
                == 0)
        #expect(try sh("'\(script)' '\(proof.path)' '\(pub.path)' | grep -q 'inclusion proof OK'") == 0)
        var v = try runKakunin(["audit", "verify-proof", proof.path], database: nil)
        #expect(v.status == 31 && v.stdout.contains("unsigned, not verified"), "\(v.stdout)")
        v = try runKakunin(["audit", "verify-proof", proof.path, "--path-only"], database: nil)
        #expect(v.status == 0 && v.stdout.contains("proof path valid"), "\(v.stdout)")

        let lines = try readLines(proof)
        let index = Int(lines[1].dropFirst("index: ".count))!
        let forgedFile = dir.appendingPathComponent("forged.txt")
        func refusedByBoth(_ forged: [String], _ what: String) throws {
            try write(forged, forgedFile)
            let k = try runKakunin(["audit", "verify-proof", forgedFile.path, "--public-key", pub.path], database: nil)
            #expect(k.status != 0, "kakunin accepted \(what): \(k.stdout)")
            #expect(try sh("'\(script)' '\(forgedFile.path)' '\(pub.path)'") != 0, "the script accepted \(what)")
        }
        // Another index for the same path: the entry is claimed at a position it does not hold.
        var forged = lines
        forged[1] = "index: \(index ^ 1)"
        try refusedByBoth(forged, "another index")
        // The entry split over two lines (the script once joined them; kakunin reads one line).
        let b64 = String(lines[3].dropFirst("entry-base64: ".count))
        forged = lines
        forged[3] = "entry-base64: " + b64.prefix(8)
        forged.insert("entry-base64: " + b64.dropFirst(8), at: 4)
        try refusedByBoth(forged, "an entry split over two lines")
        // A leaf line that is not the entry's leaf.
        forged = lines
        forged[4] = "leaf: " + String(repeating: "0", count: 64)
        try refusedByBoth(forged, "a wrong leaf line")
        // Marks that contradict the index.
        forged = lines
        let step = forged.firstIndex { $0.hasPrefix("left ") || $0.hasPrefix("right ") }!
        forged[step] = forged[step].hasPrefix("left ") ? "right" + forged[step].dropFirst(4) : "left" + forged[step].dropFirst(5)
        try refusedByBoth(forged, "a flipped side")
    }
}

/// RFC 8785 canonical JSON, checked against the RFC's own examples.
@Suite("Canonical JSON (RFC 8785)")
struct CanonicalJSONTests {
    func canonical(_ s: String) throws -> String { String(decoding: CanonicalJSON.encode(try CanonicalJSON.parse(s)), as: UTF8.self) }

    @Test("numbers as ECMAScript writes them; keys by UTF-16 code units; minimal escapes")
    func examples() throws {
        let numbers: [(String, String)] = [
            ("0", "0"), ("-0", "0"), ("1", "1"), ("-1.5", "-1.5"), ("1e21", "1e+21"), ("1e20", "100000000000000000000"),
            ("0.000001", "0.000001"), ("1e-7", "1e-7"), ("123.456", "123.456"), ("1.50", "1.5"),
            ("333333333.33333329", "333333333.3333333"), ("1E30", "1e+30"), ("4.50", "4.5"),
            ("2e-3", "0.002"), ("9007199254740993", "9007199254740992"), ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ]
        for (input, want) in numbers { #expect(try canonical(input) == want, "\(input)") }
        #expect(
            try canonical(#"{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7}"#)
                == "{\"\\r\":2,\"1\":4,\"\u{80}\":6,\"ö\":7,\"€\":1,\"😀\":5,\"\u{fb33}\":3}")
        #expect(
            try canonical(#"{ "b" : [true, false, null, "a\"\\/\u0001\n"], "a": {} }"#)
                == #"{"a":{},"b":[true,false,null,"a\"\\/\u0001\n"]}"#)
    }
}
