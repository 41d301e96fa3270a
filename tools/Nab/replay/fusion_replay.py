"""Replays fusion's calibration, recurrence damping and rest gate from a per-row trace, and scores them with NAB's rules.

Research tool behind docs/anomaly-experiments.md ("replayed" numbers); Python 3, standard library only. The product
and the tests never use it. Make the trace first (from the repository root):

    dotnet run -c Release --project tools/Nab -- trace --out /tmp/fusion-trace
    python3 tools/Nab/replay/fusion_replay.py --trace /tmp/fusion-trace

which checks the replay against the C# scores row by row and prints the default's scores (standard / low FP / low FN)
on the whole subset and on the two halves (AWS + artificial, tweets + traffic), each with its own threshold sweep.
An experiment imports this module, changes `replay` (a hook sees each row's calibrated z, or write a new pipeline)
and calls `evaluate`. The threshold grid (steps of 0.0025) is coarser than the harness's exhaustive sweep, so scores
read 0.1-0.3 below `nab bench`.
"""
import argparse, csv, json, math, os

PROFILES = {'standard': (1.0, 1.0, 0.11), 'low FP': (1.0, 1.0, 0.22), 'low FN': (1.0, 2.0, 0.11)}  # tp, fn, fp weights
HOLDOUT = ('realTweets', 'realTraffic')
DAY = 1440


def sigmoid(y):
    """NAB's scaled sigmoid: 2 / (1 + e^(5y)) - 1."""
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


class Series:
    def __init__(self, key, category, n, windows, trace):
        self.key, self.category, self.n, self.windows, self.trace = key, category, n, windows, trace
        self.probation = min(int(0.15 * n), 750)


def load(data, windows_path, trace_dir):
    """Every <category>/<file>.csv of the data folder with its windows (as row indices) and its trace rows by row index."""
    windows = json.load(open(windows_path))
    out = []
    for category in sorted(os.listdir(data)):
        folder = os.path.join(data, category)
        if not os.path.isdir(folder): continue
        for name in sorted(f for f in os.listdir(folder) if f.endswith('.csv')):
            key = category + '/' + name
            stamps = [r[0] for r in list(csv.reader(open(os.path.join(folder, name))))[1:]]
            rows = []
            for a, b in windows.get(key, []):
                start = next(i for i, t in enumerate(stamps) if t >= a[:19])
                end = max(i for i, t in enumerate(stamps) if t <= b[:19])
                rows.append((start, end))
            with open(os.path.join(trace_dir, category + '_' + name)) as f:
                header = f.readline().strip().split(',')
                trace = [None] + [dict(zip(header, map(float, line.split(',')))) for line in f]
            if len(trace) != len(stamps): raise SystemExit(f'{key}: trace has {len(trace)} rows, data {len(stamps)}')
            out.append(Series(key, category, len(stamps), rows, trace))
    return out


def nab_score(series, detections, threshold, profile):
    """Normalised NAB score of per-file detections {row: score} at one threshold (SCORING.md)."""
    tp_w, fn_w, fp_w = PROFILES[profile]
    raw = 0.0
    count = 0
    for s in series:
        hits = sorted(i for i, v in detections[s.key].items() if v >= threshold and i >= s.probation)
        for start, end in s.windows:
            count += 1
            inside = [i for i in hits if start <= i <= end]
            raw += tp_w * sigmoid(-(end - inside[0] + 1) / (end - start + 1)) / sigmoid(-1) if inside else -fn_w
        for i in hits:
            if any(start <= i <= end for start, end in s.windows): continue
            before = [(start, end) for start, end in s.windows if end < i]
            raw += fp_w * sigmoid((i - before[-1][1]) / (before[-1][1] - before[-1][0])) if before else -fp_w
    return 100.0 * (raw + fn_w * count) / (tp_w * count + fn_w * count)


def gate(scores, rest=120, rest_level=0.62, warmup=150):
    """fusion's rest gate: nothing during the warm-up; after a score >= rest_level, silence for `rest` rows."""
    out, left = {}, 0
    for i in range(1, len(scores)):
        if i + 1 <= warmup: continue
        if left > 0:
            left -= 1
            continue
        if scores[i] >= rest_level: left = rest
        if scores[i] >= 0.3: out[i] = min(scores[i], 1.0)
    return out


def evaluate(series, scores_by_key, holdout=HOLDOUT, **gate_args):
    """Best score per profile (and its threshold) on the whole set and on each half, from pre-gate scores per file."""
    detections = {s.key: gate(scores_by_key[s.key], **gate_args) for s in series}
    thresholds = [0.3 + 0.0025 * k for k in range(260)]
    parts = {'all': series,
             'AWS + artificial': [s for s in series if s.category not in holdout],
             'tweets + traffic': [s for s in series if s.category in holdout]}
    return {part: [max((nab_score(sel, detections, t, p), t) for t in thresholds) for p in PROFILES] for part, sel in parts.items()}


def fmt(result):
    return '  '.join(f"{part} {' / '.join('%.1f' % s for s, _ in best)} (t {best[0][1]:.3f})" for part, best in result.items())


def finish(row, zc, memory, recur_level=8.0, recur_tol=60, z_scale=4.0, spatial=0.9, warmup=150):
    """fusion's last steps from a calibrated z: recurrence damping (a large z at the time of day of one of the last 8
    large ones is zeroed), the squash, the spatial novelty. Returns the score and the recurrence memory."""
    if zc >= recur_level and row['count'] > warmup:
        minute = int(row['minute'])
        repeats = any(minute - m >= DAY // 2 and ((minute - m) % DAY <= recur_tol or (minute - m) % DAY >= DAY - recur_tol) for m in memory)
        memory = (memory + [minute])[-8:]
        if repeats: zc = 0.0
    score = zc / (zc + z_scale)
    if row['novel']: score = max(score, spatial)
    return score, memory


def replay(series, tail_p=0.99, eta=0.05, ref=3.0, extrap=1.0, knee=0.9, recur_level=8.0, recur_tol=60, z_scale=4.0,
           spatial=0.9, warmup=150, hook=None):
    """fusion's score before its gate, rebuilt from the trace's raw z: tail calibration (99% quantile, heavy-tail
    extrapolation above the knee), recurrence damping, squash, spatial novelty. hook(row, zc, log_q, log_q90) may
    return another calibrated z."""
    out = {}
    for s in series:
        log_q, log_q90, memory = math.log(ref), math.log(ref) - 1, []
        scores = [0.0] * s.n
        for i in range(1, s.n):
            row = s.trace[i]
            z = row['raw_z']
            q = math.exp(log_q)
            heavy = max(0.0, log_q - log_q90 - knee)
            qx = math.exp(log_q + extrap * heavy) if heavy > 0 else q
            zc = z * ref / max(qx, ref)
            if hook: zc = hook(row, zc, log_q, log_q90)
            log_q += eta * (tail_p if z > q else -(1 - tail_p))
            log_q90 += eta * (0.9 if z > math.exp(log_q90) else -0.1)
            scores[i], memory = finish(row, zc, memory, recur_level, recur_tol, z_scale, spatial, warmup)
        out[s.key] = scores
    return out


def arguments(doc):
    """The replays' command line: --data (default: the NAB data beside the repository) and --trace."""
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=doc.split('\n')[0])
    ap.add_argument('--data', default=os.path.normpath(os.path.join(here, '..', '..', '..', '..', 'shared', 'data', 'nab', 'data')))
    ap.add_argument('--trace', required=True, help='the folder `nab trace --out` wrote')
    return ap


def windows_beside(data):
    return os.path.join(os.path.dirname(os.path.normpath(data)), 'windows.json')


def main():
    ap = arguments(__doc__)
    ap.add_argument('--windows', default=None, help='default: windows.json beside the data folder')
    a = ap.parse_args()
    series = load(a.data, a.windows or windows_beside(a.data), a.trace)
    scores = replay(series)
    worst, bad = 0.0, 0
    for s in series:
        for i in range(1, s.n):
            d = abs(scores[s.key][i] - s.trace[i]['score'])
            worst = max(worst, d)
            bad += d > 1e-6
    print(f'{len(series)} series; rows where the replay differs from the C# score: {bad} (largest difference {worst:.2g})')
    print('default ' + fmt(evaluate(series, scores)))
    return 1 if bad else 0


if __name__ == '__main__':
    raise SystemExit(main())
