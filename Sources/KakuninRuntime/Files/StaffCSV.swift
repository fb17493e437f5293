/// CSV files written for staff (a run's `exceptions.csv`, an import's rejects file) open right
/// in a spreadsheet: UTF-8 with a byte-order mark. Excel reads a CSV without one in the
/// machine's ANSI code page (CP932 on a Japanese Windows) and garbles every Japanese value;
/// with it, Excel, LibreOffice and Numbers read UTF-8. kakunin's own reader (`CSVReader`)
/// skips the mark.
package enum StaffCSV {
    package static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
    /// The file's encoding as a manifest names it.
    package static let encodingName = "UTF-8 with BOM"
}
