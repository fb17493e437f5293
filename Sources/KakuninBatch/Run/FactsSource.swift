import Foundation
import KakuninCore
import KakuninStore

/// The run's first step: every member's facts as one stream in envelope order, read in one
/// snapshot (a REPEATABLE READ READ ONLY transaction on the reader connection). A large insurer
/// is read in two halves, the second on a connection of its own in the same snapshot: halves of
/// the home envelope keys (households whole), each in envelope order. Concatenated, or with
/// `employer` delivery merged row by row, they are the same stream.
struct FactsSource {
    let reader: Connection
    let insurer: String
    let asOf: LocalDate
    /// [2026-12] employee_delivery: the envelope keys of members delivered through an establishment.
    let delivery: InsurerParameters.EmployeeDelivery
    /// `pg_current_snapshot()` of the read: kept with the run, so that a rebuild of its files
    /// takes the members as it saw them (MailFiles.rebuild).
    let snapshot: String
    /// The insurer's members (the stream's length).
    let total: Int
    private var firstSQL: String
    private var second: (connection: Connection, sql: String)?

    /// Insurers with at least this many members read their facts in two halves. At 89,156
    /// members (the generated elderly insurer) two halves reach the first row in 0.39–0.56 s
    /// against 0.63–0.73 s read whole, and the run ends 0.3 s sooner in 3 pairs of 4.
    static let splitAbove = Int(ProcessInfo.processInfo.environment["KAKUNIN_SPLIT_ABOVE"] ?? "") ?? 50_000

    /// Begins the reader's transaction (after the writer has locked the insurer's row): its
    /// snapshot and the number of members.
    init(reader: Connection, insurer: String, asOf: LocalDate, delivery: InsurerParameters.EmployeeDelivery = .home) throws {
        self.reader = reader
        self.insurer = insurer
        self.asOf = asOf
        self.delivery = delivery
        try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        // One parallel worker halves the time before the first row while this process and the
        // writer are still idle (the second half's connection, when there is one, runs beside it).
        try Self.prepareFactsTransaction(reader, parallelWorkers: 1)
        snapshot = try reader.query("SELECT pg_current_snapshot()::text").scalar!
        total = Int(try reader.query("SELECT count(*) FROM member WHERE insurer_number = $1", [insurer]).scalar!)!
        firstSQL = ""
        firstSQL = factsSQL()
    }

    /// The run whose decisions in force travel with each member's facts (CarryForward.keptRun).
    private(set) var keptRun: Int?

    /// Each row carries the member's decision in force of `run` after the facts
    /// (MemberFactsQuery.keptColumn); set before the read starts (splitIfLarge, stream).
    mutating func carryKept(of run: Int?) {
        keptRun = run
        firstSQL = factsSQL()
    }

    /// An incremental night's candidates (CarryForward.candidates): nil, every member.
    private(set) var candidates: String?

    /// Below this many members an insurer reads its candidates whatever their number (either
    /// way costs milliseconds).
    static let readAllFrom = Int(ProcessInfo.processInfo.environment["KAKUNIN_READ_ALL_FROM"] ?? "") ?? 1_000

    /// An incremental night reads its candidates only, in the same snapshot: each table by its
    /// index for the candidates' sorted keys (MemberFactsQuery.candidateFilter; the kept
    /// decisions by a probe per member, DecisionChain), in one stream (never split), on a connection of its own
    /// that imports the reader's snapshot and keeps the candidates in a temporary table (the
    /// reader's transaction is read-only): they are found once, counted, then read.
    /// An insurer (`readAllFrom` members or more) with candidates for a quarter of its members or
    /// more reads every member instead (a large one in two halves) and compares digests: index lookups for most members
    /// cost far more than one hash-joined read (a night after a first one, when most members
    /// have new documents, took minutes at 200,000 members and 6.8 s at 20,000).
    mutating func restrict(to candidates: String?, url: String?) throws {
        guard let candidates else { return }
        let exported = try reader.query("SELECT pg_export_snapshot()").scalar!
        let other = try Connection(url: url, applicationName: "kakunin-run-read")
        try other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try other.execute("SET TRANSACTION SNAPSHOT '\(exported)'")
        try Self.prepareFactsTransaction(other, parallelWorkers: 1)
        try other.execute("CREATE TEMP TABLE run_candidate (member_id text COLLATE \"C\" PRIMARY KEY) ON COMMIT DROP")
        try other.execute("INSERT INTO run_candidate \(substituted(candidates))")
        try other.execute("ANALYZE run_candidate")
        let count = try other.query("SELECT count(*) FROM run_candidate").scalar.flatMap { Int($0) } ?? total
        if total >= Self.readAllFrom, count * 4 >= total {
            try other.execute("ROLLBACK")
            return
        }
        candidateCount = count
        self.candidates = "SELECT member_id FROM run_candidate"
        if let keptRun {
            let chain = try DecisionChain.of(other, run: keptRun)
            keptChain = MemberFactsQuery.KeptChain(
                latest: chain.latest(members: "SELECT member_id FROM cand", count: count), runAsOf: chain.runs.last?.asOf ?? "NULL::date")
        }
        candidateReader = other
        firstSQL = factsSQL()
    }

    /// The members whose facts the stream gives: the candidates after `restrict`, else every member.
    var readCount: Int { candidateCount ?? total }
    private var candidateCount: Int?

    /// An incremental night's connection (restrict) and its candidates' kept decisions.
    private var candidateReader: Connection?
    private var keptChain: MemberFactsQuery.KeptChain?

    private func factsSQL(_ range: String = "") -> String {
        substituted(
            MemberFactsQuery.sql(
                oneMember: false, range: range, delivery: delivery, keptRun: keptRun, candidates: candidates, keptChain: keptChain))
    }

    /// `sql` with the insurer ($1) and the as-of date ($2) written in.
    private func substituted(_ sql: String) -> String {
        sql.replacingOccurrences(of: "$1", with: "'\(insurer)'")  // validated: digits only
            .replacingOccurrences(of: "$2", with: "'\(asOf)'::date")  // a LocalDate
    }

    /// The facts query joins and sorts the whole insurer before its first row: alone, it would
    /// keep the client and the writer waiting. A large insurer's second half is started now on
    /// a connection of its own: the server sorts it on the other core while this process takes
    /// the first.
    mutating func splitIfLarge(url: String?, log: RunLog) throws {
        // The boundary is the median home key (`MemberFactsQuery.envelopeKey`) of a sample of
        // about 5,000 of the insurer's members (pages of the table, so the cost does not grow
        // with the insurer as reading every key did; figures in the Benchmarks article). With
        // `employer` delivery too: each half then reads a contiguous half of the members, as at
        // home, instead of evaluating the establishment lookup for every member to find its
        // envelope range, and holds the same mix of envelopes, so the two are sorted at the
        // same time; `stream` merges them.
        let samplePercent = min(100, max(0.5, 5_000 * 100 / Double(max(total, 1))))
        guard total >= Self.splitAbove, candidates == nil,
            let boundary = try reader.query(
                """
                SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY k) FROM (
                    SELECT \(MemberFactsQuery.envelopeKey) COLLATE "C" AS k FROM member m TABLESAMPLE SYSTEM (\(samplePercent)) REPEATABLE (1)
                    WHERE m.insurer_number = $1) s
                """, [insurer]
            ).scalar
        else { return }
        let literal = "'" + boundary.replacingOccurrences(of: "'", with: "''") + "'"
        let other = try Connection(url: url, applicationName: "kakunin-run-read")
        let exported = try reader.query("SELECT pg_export_snapshot()").scalar!
        try other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try other.execute("SET TRANSACTION SNAPSHOT '\(exported)'")
        try Self.prepareFactsTransaction(other, parallelWorkers: 0)
        let sql = factsSQL("COLLATE \"C\" >= \(literal)")
        try other.beginCopyOut("COPY (\(sql)) TO STDOUT")
        second = (other, sql)
        firstSQL = factsSQL("COLLATE \"C\" < \(literal)")
        log.event("decide", "reading the facts in two halves, the second (from \(boundary)) on its own connection")
    }

    /// Every member's facts row, in envelope order, to `consume`.
    func stream(_ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let second, delivery == .employer else {
            try (candidateReader ?? reader).copyOut("COPY (\(firstSQL)) TO STDOUT", consume)
            if let second { try second.connection.receiveCopyOut("COPY (\(second.sql)) TO STDOUT", consume) }
            return
        }
        let firstCopy = "COPY (\(firstSQL)) TO STDOUT"
        try reader.beginCopyOut(firstCopy)
        try EnvelopeMerge.merge(
            reader.copyOutRows(firstCopy), second.connection.copyOutRows("COPY (\(second.sql)) TO STDOUT"), into: consume)
    }

    /// Ends the read transactions.
    func commit() throws {
        try reader.execute("COMMIT")
        try candidateReader?.execute("COMMIT")
        if let second { try second.connection.execute("COMMIT") }
    }

    /// Settings of a transaction that reads the facts query (each half's):
    /// - a streaming query gains nothing from JIT compilation but pays for it;
    /// - the hash tables and the sort fit in memory;
    /// - the query is built to hash-join every table once. Statistics that lag behind the
    ///   tables (a run added fewer rows than autoanalyze waits for, on top of years of voided
    ///   certificates) made the planner expect one row from a CTE and loop over it for every
    ///   member (figures in the Benchmarks article). No nested loop is wanted here but the
    ///   one the query asks for by name: the Myna status's probe per member (a LATERAL join on
    ///   an index, which this setting cannot turn into anything else).
    private static func prepareFactsTransaction(_ db: Connection, parallelWorkers: Int) throws {
        try db.execute("SET LOCAL jit = off")
        try db.execute("SET LOCAL max_parallel_workers_per_gather = \(parallelWorkers)")
        try db.execute("SET LOCAL work_mem = '512MB'")
        try db.execute("SET LOCAL enable_nestloop = off")
    }
}

/// Two halves of the facts, each in envelope order, merged into one stream in envelope order:
/// the order of the facts query (`ORDER BY envelope, member_id`, byte-wise: identifiers are
/// ASCII and travel unescaped in COPY's text form).
enum EnvelopeMerge {
    /// Every row of `a` and `b` to `consume`, by (envelope, member id); a failure cancels both reads.
    static func merge(_ a: CopyOutRows, _ b: CopyOutRows, into consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        do {
            var x = try Head(a)
            var y = try Head(b)
            while x != nil || y != nil {
                if let hx = x, y.map({ hx.precedes($0) }) ?? true {
                    try consume(hx.row)
                    x = try Head(a)
                } else if let hy = y {
                    try consume(hy.row)
                    y = try Head(b)
                }
            }
        } catch {
            a.abandon()
            b.abandon()
            throw error
        }
    }

    /// A half's next row with its key; nil once the half has ended.
    struct Head {
        let row: UnsafeRawBufferPointer
        let key: Key

        init?(_ rows: CopyOutRows) throws {
            guard let row = try rows.next() else { return nil }
            self.row = row
            key = EnvelopeMerge.key(row)
        }

        /// By envelope, then member id.
        func precedes(_ other: Head) -> Bool {
            let c = MemberOrderRuns.compare(
                UnsafeRawBufferPointer(rebasing: row[key.envelope]), UnsafeRawBufferPointer(rebasing: other.row[other.key.envelope]))
            if c != 0 { return c < 0 }
            return MemberOrderRuns.compare(
                UnsafeRawBufferPointer(rebasing: row[key.member]), UnsafeRawBufferPointer(rebasing: other.row[other.key.member])) < 0
        }
    }

    /// Where a row's member id (its first column) and envelope lie.
    typealias Key = (member: Range<Int>, envelope: Range<Int>)

    static func key(_ row: UnsafeRawBufferPointer) -> Key {
        guard let base = row.baseAddress else { return (0..<0, 0..<0) }
        var member = 0..<0
        var start = 0
        for column in 0...MemberFactsQuery.person.envelope {
            let end =
                memchr(base + start, Int32(UInt8(ascii: "\t")), row.count - start).map { base.distance(to: UnsafeRawPointer($0)) }
                ?? row.count
            if column == 0 { member = 0..<end }
            if column == MemberFactsQuery.person.envelope { return (member, start..<end) }
            guard end < row.count else { break }
            start = end + 1
        }
        return (member, row.count..<row.count)
    }
}
