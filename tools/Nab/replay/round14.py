"""Round 14 (docs/anomaly-experiments.md): where the per-file headroom is, and six more ideas, none better than the default.

    python3 tools/Nab/replay/round14.py --trace /tmp/fusion-trace [--part headroom,auc,baseline,delay,isolation]

headroom   per file, the raw NAB score at the corpus threshold against the file's own best threshold (the oracle)
auc        candidate alerts (gated score 0.5-0.9, first per window): how well online features, some from the rows just
           after the alert, tell the ones that open a window from the false positives, per category (AUC)
baseline   z measured differently (fusion_full.py): one-sided scales, the level and slot z calibrated apart, a power
           transform of the values, the scale floor's share of the range
delay      the alert held back K rows and judged with the rows after it (their max or mean calibrated z)
isolation  z damped when another large deviation came shortly before
"""
import math, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_replay as fr
import fusion_full as ff

CATEGORIES = ('realTweets', 'realAWSCloudwatch', 'realTraffic', 'artificialWithAnomaly')


def file_raw(s, detections, threshold, profile):
    """One file's raw NAB score at a threshold (the sum fr.nab_score normalises)."""
    tp_w, fn_w, fp_w = fr.PROFILES[profile]
    hits = sorted(i for i, v in detections.items() if v >= threshold and i >= s.probation)
    raw = 0.0
    for a, b in s.windows:
        inside = [i for i in hits if a <= i <= b]
        raw += tp_w * fr.sigmoid(-(b - inside[0] + 1) / (b - a + 1)) / fr.sigmoid(-1) if inside else -fn_w
    for i in hits:
        if any(a <= i <= b for a, b in s.windows): continue
        before = [(a, b) for a, b in s.windows if b < i]
        raw += fp_w * fr.sigmoid((i - before[-1][1]) / (before[-1][1] - before[-1][0])) if before else -fp_w
    return raw


def headroom(series, base):
    detections = {s.key: fr.gate(base[s.key]) for s in series}
    best = fr.evaluate(series, base)['all']
    grid = [0.3 + 0.0025 * k for k in range(290)]
    for (_, t), profile in zip(best, fr.PROFILES):
        gains = []
        for s in series:
            at = file_raw(s, detections[s.key], t, profile)
            top, tt = max((file_raw(s, detections[s.key], u, profile), u) for u in grid)
            if top - at > 0.3: gains.append(f'{s.key.split("/")[1]} +{top - at:.2f} (at {tt:.3f})')
        total = sum(max(file_raw(s, detections[s.key], u, profile) for u in grid) - file_raw(s, detections[s.key], t, profile) for s in series)
        print(f'{profile}: per-file thresholds would add {total:.1f} raw = {100 * total / (166 if profile != "low FN" else 249):.1f} points; largest: ' + ', '.join(gains))


def auc_study(series, base):
    def auc(pos, neg):
        if not pos or not neg: return float('nan')
        return sum(1 if p > q else 0.5 if p == q else 0 for p in pos for q in neg) / len(pos) / len(neg)
    rows = []
    for s in series:
        d, t, first = fr.gate(base[s.key]), s.trace, set()
        since, last = [0] * s.n, -10 ** 9
        for j in range(1, s.n):
            since[j] = j - last
            if t[j]['calibrated_z'] > 4: last = j
        for i in sorted(d):
            if d[i] < 0.5 or d[i] >= 0.9 or i < s.probation: continue
            w = [k for k, (a, b) in enumerate(s.windows) if a <= i <= b]
            if w and w[0] in first: continue
            if w: first.add(w[0])
            after = [t[j]['calibrated_z'] for j in range(i + 1, min(s.n, i + 7))]
            before = [t[j]['calibrated_z'] for j in range(max(1, i - 6), i)]
            rows.append((s.category, bool(w), {
                'score': d[i], 'tail L': t[i]['log_q99'] - t[i]['log_q90'], 'raw z': t[i]['raw_z'],
                'mean of next 6': sum(after) / max(1, len(after)), 'max of next 6': max(after, default=0),
                'mean of last 6': sum(before) / max(1, len(before)), 'rows since z>4': since[i],
                'upward': float(t[i]['value'] > t[i]['level'])}))
    print('AUC (window-opening candidates above false positives) ' + ' / '.join(CATEGORIES))
    for f in rows[0][2]:
        per = [auc([r[2][f] for r in rows if r[0] == c and r[1]], [r[2][f] for r in rows if r[0] == c and not r[1]]) for c in CATEGORIES]
        print(f'  {f:16s} ' + '  '.join(f'{x:.2f}' for x in per))
    print('  candidates (window / false): ' + ', '.join(f'{c} {sum(1 for r in rows if r[0] == c and r[1])}/{sum(1 for r in rows if r[0] == c and not r[1])}' for c in CATEGORIES))


def baseline(series):
    show = lambda name, sc: print(f'{name:28s} ' + fr.fmt(fr.evaluate(series, sc)), flush=True)
    for name, kw in [('one-sided scales', dict(asym='both')), ('one-sided, level only', dict(asym='both', asym_slot=False)),
                     ('below-side scale only', dict(asym='down')), ('below-side, level only', dict(asym='down', asym_slot=False)),
                     ('level and slot z calibrated apart', dict(sepcal=True))]:
        show(name, {s.key: ff.run(s, **kw) for s in series})
    for p in (0.5, 0.75):
        show(f'values to the power {p}', {s.key: ff.run(s, vals=[math.copysign(abs(v) ** p, v) for v in s.vals]) for s in series})
    for rf in (0.005, 0.0075, 0.015, 0.02):
        show(f'rangeFloor {rf}', {s.key: ff.run(s, range_floor=rf) for s in series})


def delayed(s, pre, k, b, how, p0=0.4, cap=10.0, ref=3.0):
    """A candidate (score >= p0, not a new extreme) is held back k rows and emitted with the evidence of those rows:
    'fold' the max z over them times (mean calibrated z / 1)^b; 'demote' times min(1, (1 + max) / (1 + ref))^b."""
    out, pending = [0.0] * s.n, None
    for i in range(1, s.n):
        score = pre[i]
        novel = s.trace[i]['novel'] > 0 and score >= 0.9
        z = 4 * score / (1 - score) if score < 1 else 1e12
        if novel: out[i] = score
        if pending is None:
            if score >= p0 and not novel: pending = [z, 0.0, 0, 0.0]
            continue
        zc = min(s.trace[i]['calibrated_z'], cap)
        pending[1] += zc
        pending[2] += 1
        pending[3] = max(pending[3], zc)
        if how == 'fold' and not novel: pending[0] = max(pending[0], z)
        if pending[2] >= k:
            zt, mean, top = pending[0], pending[1] / k, pending[3]
            zz = zt * max(mean, 1e-3) ** b if how == 'fold' else zt * min(1.0, (1 + top) / (1 + ref)) ** b
            out[i] = max(out[i], zz / (zz + 4))
            pending = None
    return out


def delay(series, base):
    for how, bs in (('fold', (0, 0.25, 0.5)), ('demote', (0.15, 0.3, 0.6))):
        for k in (3, 6, 12):
            for b in bs:
                print(f'{how} K {k:2d} b {b:<4} ' + fr.fmt(fr.evaluate(series, {s.key: delayed(s, base[s.key], k, b, how) for s in series})), flush=True)


def isolation(series):
    def hook_for(big, s0, gamma):
        state = {}
        def hook(row, zc, lq, lq90):
            if row['count'] == 2: state['last'] = -10 ** 9
            factor = min(1.0, max(0.5, ((row['count'] - state['last']) / s0) ** gamma))
            if zc > big: state['last'] = row['count']
            return zc * factor
        return hook
    for big in (3.0, 4.0, 6.0):
        for s0 in (144, 288, 1000):
            for gamma in (0.1, 0.2, 0.35):
                print(f'big {big} s0 {s0} gamma {gamma} ' + fr.fmt(fr.evaluate(series, fr.replay(series, hook=hook_for(big, s0, gamma)))), flush=True)


def main():
    ap = fr.arguments(__doc__)
    ap.add_argument('--part', default='headroom,auc,baseline,delay,isolation')
    a = ap.parse_args()
    series = ff.load(a.data, fr.windows_beside(a.data), a.trace)
    base = fr.replay(series)
    print('default ' + fr.fmt(fr.evaluate(series, base)))
    parts = a.part.split(',')
    if 'headroom' in parts: headroom(series, base)
    if 'auc' in parts: auc_study(series, base)
    if 'baseline' in parts: baseline(series)
    if 'delay' in parts: delay(series, base)
    if 'isolation' in parts: isolation(series)


if __name__ == '__main__':
    main()
