import KakuninStore

/// The run's numbering step: certificates are numbered in the order of the stream (envelope,
/// member) from a block of numbers reserved for this run, so the counter can issue meanwhile
/// without waiting. The numbers the run does not use go back with its commit.
struct CertificateNumbers {
    let block: (from: Int64, to: Int64)
    private(set) var next: Int64

    /// A block of `count` numbers: reserved for the run, or (a dry run) counted from the
    /// insurer's next number without reserving anything.
    init(runID: Int?, registry: RunRegistry?, reader: Connection, insurer: String, count: Int) throws {
        if let runID, let registry {
            block = try registry.reserveNumbers(runID: runID, insurer: insurer, count: count)
        } else {
            let next =
                Int64(try reader.query("SELECT next_number FROM certificate_counter WHERE insurer_number = $1", [insurer]).scalar ?? "1")
                ?? 1
            block = (next, next + Int64(count))
        }
        next = block.from
    }

    /// The next number, in stream order.
    mutating func take() -> Int64 {
        defer { next += 1 }
        return next
    }
}
