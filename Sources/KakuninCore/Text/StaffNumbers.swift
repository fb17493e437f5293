/// Amounts as an office writes them on the pages staff read: 34,090 (thousands separated by a
/// comma). Vendor files, CSVs and the CLI keep the plain digits.
public enum StaffNumber {
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }
}
