"""Summary of jobs/bench-delivery's nights (read on stdin, one per line:
"<employer|home> <seconds> | <insurer>=<seconds> ... | load <l>"), nights alternating in pairs.

Prints the two whole-night estimates (ratio of the medians, median of the pairs' ratios) and a
third that leaves out the noise of the insurers whose runs are the same either way: only the
insurer named on the command line delivers differently, so a pair's extra is that insurer's
employer time minus its home time; the ratio is 1 + mean extra / mean home night, with a 95%
bootstrap interval over the pairs (resampled 10,000 times, fixed seed).
"""
import random
import statistics
import sys

insurer = sys.argv[1]
nights = []
for line in sys.stdin:
    fields = line.split("|")
    if len(fields) < 2 or fields[0].split()[0] not in ("employer", "home"):
        continue
    delivery, total = fields[0].split()
    parts = dict(p.split("=") for p in fields[1].split())
    nights.append((delivery, float(total), float(parts[insurer]) if insurer in parts else None))
e = [n for n in nights if n[0] == "employer"]
h = [n for n in nights if n[0] == "home"]
pairs = list(zip(e, h))
if not pairs:
    sys.exit("no pair of nights to summarise")
ratios = [a[1] / b[1] for a, b in pairs]
me, mh = statistics.median(n[1] for n in e), statistics.median(n[1] for n in h)
print(f"employer {me:.2f} s against home {mh:.2f} s (medians): {me / mh:.3f}; "
      f"median of the {len(pairs)} pairs: {statistics.median(ratios):.3f} (target ≤ 1.05)")

if any(n[2] is None for n in nights):
    sys.exit(0)  # the insurer was not timed (BENCH_ONLY)
extra = [a[2] - b[2] for a, b in pairs]
home = [b[1] for a, b in pairs]


def ratio(sample):
    return 1 + statistics.fmean(extra[i] for i in sample) / statistics.fmean(home[i] for i in sample)


rng = random.Random(1)
n = len(pairs)
boot = sorted(ratio([rng.randrange(n) for _ in range(n)]) for _ in range(10_000))
print(f"{insurer}'s own extra through employers: {statistics.fmean(extra):+.2f} s a night on average "
      f"(median {statistics.median(extra):+.2f} s) over a home night of {statistics.fmean(home):.2f} s: "
      f"{ratio(range(n)):.3f}, 95% interval {boot[250]:.3f}–{boot[9750]:.3f} (target ≤ 1.05)")
