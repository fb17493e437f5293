import CHeapUsage
// Decides N random members already in memory on one core and reports the time, the rate and
// the heap growth during the loop (the decision function must not allocate per member).
import Foundation
import KakuninCore
import KakuninTesting

let n = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 10_000_000
let asOf = LocalDate("2026-11-21")!
var generator = RandomFacts(state: 42)
var members = ContiguousArray<MemberFacts>()
members.reserveCapacity(n)
for _ in 0..<n { members.append(generator.facts(asOf: asOf)) }
var decisions = ContiguousArray<Decision>(repeating: Decision(outcome: .none, reasons: ReasonSet(), rule: .notDue), count: n)
let policy = Policy(parameters: InsurerParameters())

let heapBefore = kakunin_heap_in_use()
let start = DispatchTime.now().uptimeNanoseconds
members.withUnsafeBufferPointer { m in
    decisions.withUnsafeMutableBufferPointer { out in
        for i in 0..<m.count { out[i] = policy.decide(m[i], asOf: asOf) }
    }
}
let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
let heapAfter = kakunin_heap_in_use()

var counts: [Outcome: Int] = [:]
for d in decisions { counts[d.outcome, default: 0] += 1 }
print(
    String(
        format: "decided %d members in %.3f s on one core: %.1f M members/s (target: 10 M in < 2 s)", n, seconds, Double(n) / seconds / 1e6)
)
print(
    "heap growth during the loop: \(Int(heapAfter) - Int(heapBefore)) bytes (\(String(format: "%.3f", Double(Int(heapAfter) - Int(heapBefore)) / Double(n))) bytes per member)"
)
print("outcomes: " + Outcome.allCases.map { "\($0.rawValue) \(counts[$0] ?? 0)" }.joined(separator: ", "))
