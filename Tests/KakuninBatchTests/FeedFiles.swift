import Foundation
import KakuninCore
import KakuninTesting

/// Builds small feed files for tests.
enum FeedFiles {
    /// The columns of today's extracts: every column but the optional ones ([2026-12], SPEC.md 4).
    static let memberColumns = FeedFormat.members.columns.filter { !$0.optional }.map(\.name)
    static let memberHeader = memberColumns.joined(separator: ",")
    /// Every column, the optional ones too.
    static let allMemberColumns = FeedFormat.members.columns.map(\.name)
    static let fullMemberHeader = allMemberColumns.joined(separator: ",")

    /// A valid member row of `columns`; override fields by column name (optional ones blank
    /// unless given).
    static func member(_ id: String, _ overrides: [String: String] = [:], columns: [String] = memberColumns) -> String {
        var f: [String: String] = [
            "insurer_number": "131016", "member_id": id, "scheme": "nhi", "symbol": "千代田", "number": "1234567",
            "branch": "00", "family_name": "山田", "given_name": "太郎", "family_name_kana": "ヤマダ",
            "given_name_kana": "タロウ", "birth_date": "1980-04-01", "sex": "1", "qualified_on": "2020-04-01",
            "disqualified_on": "", "household_id": "H\(id)", "household_head": "true", "postal_code": "1000001",
            "address": "東京都千代田区千代田1丁目1番1号", "address_extra": "", "preferred_language": "ja",
            "copay_ratio": "30", "residence_expiry": "", "legacy_card_expiry": "", "access_restricted": "false",
        ]
        for (k, v) in overrides { f[k] = v }
        return columns.map { quote(f[$0] ?? "") }.joined(separator: ",")
    }

    static func quote(_ s: String) -> String {
        s.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func write(_ dir: URL, _ name: String, _ lines: [String]) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }
}

/// Sets a version of an insurer's parameters from `lines`, as an operator does
/// (`kakunin insurer params set … -`). Every test database already gives each insurer a
/// version from 1900-01-01 (TestDatabase); this one takes over from `from`.
@discardableResult
func setParameters(
    _ tdb: TestDatabase, insurer: String = "131016", from: String, _ lines: [String],
    environment: [String: String] = [:]
) throws -> CommandResult {
    try runKakunin(
        ["insurer", "params", "set", "--insurer", insurer, "--from", from, "-"], database: tdb, environment: environment,
        stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
}
