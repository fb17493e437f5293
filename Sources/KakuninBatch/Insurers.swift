import KakuninStore

public enum Insurers {
    /// A mistyped insurer must fail loudly (exit 66) and create nothing; the fix lists the
    /// insurers the database knows.
    public static func require(_ db: Connection, _ insurer: String) throws {
        guard try db.query("SELECT 1 FROM insurer WHERE insurer_number = $1", [insurer]).rows.isEmpty else { return }
        let known = try db.query("""
            SELECT string_agg(insurer_number, ', ' ORDER BY insurer_number) FROM (SELECT insurer_number FROM insurer ORDER BY 1 LIMIT 20) k
            """).scalar
        throw OperatorError(.notFound, "unknown insurer \(insurer): no member of it was ever imported; nothing was done",
                            fix: known.map { "check the insurer number (known: \($0)), or import its members first" }
                                ?? "import the insurer's members first (kakunin import members FILE)")
    }
}
