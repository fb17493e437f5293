/// The transaction-level advisory lock that serialises issuing certificates for one insurer: the
/// nightly run's commit and the counter's issue take it, so their certificate numbers never clash.
public enum IssueLock {
    public static func key(_ insurer: String) -> String { "kakunin.issue:\(insurer)" }
}
