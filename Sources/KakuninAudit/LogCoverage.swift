import KakuninStore

extension AuditLog {
    /// Certificates against the log (sql/020): how many there are, how many the log holds, how
    /// many wait for the next seal, and how many are outside both. The database puts every
    /// certificate in the log whatever path created it, so `outside` is 0 unless the owner
    /// disabled a trigger.
    public struct CertificateCoverage: Sendable, Equatable {
        public let certificates: Int
        public let logged: Int
        public let pending: Int
        public let outside: Int
    }

    /// Of every insurer (`insurer` nil), of one insurer, or of one run of it.
    public static func certificateCoverage(_ db: Connection, insurer: String? = nil, run: Int? = nil) throws -> CertificateCoverage {
        let row = try db.query(
            "SELECT certificates, logged, pending, outside FROM certificate_log_coverage($1, $2)",
            [insurer, run.map(String.init)]
        ).rows[0].map { Int($0 ?? "0") ?? 0 }
        return CertificateCoverage(certificates: row[0], logged: row[1], pending: row[2], outside: row[3])
    }
}
