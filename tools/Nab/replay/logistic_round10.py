"""Round 10 of docs/anomaly-experiments.md: a logistic model over fusion's online statistics, fitted on one half of
the subset and scored on the other (and in-sample on all of it). Python 3, standard library only.

    dotnet run -c Release --project tools/Nab -- trace --out /tmp/fusion-trace
    python3 tools/Nab/replay/logistic_round10.py --trace /tmp/fusion-trace
"""
import argparse, math, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_replay as fr

NAMES = ['log calibrated z', 'log raw z', 'L = ln(q99/q90)', 'log q99', 'spatial novelty', 'log points seen', 'recurrence',
         'place in range', 'record ratio', 'rate of large z', 'integer share', 'log rows since large z', 'upward', 'changed share']


def features(s):
    """Online features for each row whose fusion score is >= 0.3 after the warm-up (None elsewhere)."""
    out = [None] * s.n
    zmax = integers = big = changed = 0
    last_big, previous = -10 ** 9, None
    for i in range(1, s.n):
        r = s.trace[i]
        n, v, z, zc = r['count'], r['value'], r['raw_z'], r['calibrated_z']
        integers += abs(v - round(v)) < 1e-9
        changed += previous is not None and v != previous
        previous = v
        spread = max(r['hi'] - r['lo'], 1e-9)
        if n > 150 and r['score'] >= 0.3:
            out[i] = [math.log(max(zc, 1e-3)), math.log(max(z, 1e-3)), r['log_q99'] - r['log_q90'], r['log_q99'], r['novel'],
                      math.log(n), r['repeated'], (v - r['level']) / spread, math.log(max(z, 1e-3) / max(zmax, 1e-3)),
                      big / n * 1000, integers / n, math.log(1 + i - last_big), 1.0 if v > r['level'] else 0.0, changed / n]
        if n > 150:
            zmax = max(zmax, z)
            if zc >= 6: big, last_big = big + 1, i
    return out


def dataset(series, feats, cols):
    """Positives: each window's first candidate (score >= 0.45); negatives: candidates outside windows, >= 120 rows apart."""
    xs, ys = [], []
    for s in series:
        seen, last_fp = set(), -999
        for i in range(max(s.probation, 151), s.n):
            x = feats[s.key][i]
            if x is None or s.trace[i]['score'] < 0.45: continue
            inside = [k for k, (a, b) in enumerate(s.windows) if a <= i <= b]
            if inside:
                if inside[0] in seen: continue
                seen.add(inside[0]); y = 1
            else:
                if i - last_fp < 120: continue
                last_fp, y = i, 0
            xs.append([x[c] for c in cols]); ys.append(y)
    return xs, ys


def fit(xs, ys, l2=0.05, iterations=3000, rate=0.1):
    """Class-balanced logistic regression on standardised features, by gradient descent."""
    d = len(xs[0])
    mu = [sum(x[k] for x in xs) / len(xs) for k in range(d)]
    sd = [max(1e-9, math.sqrt(sum((x[k] - mu[k]) ** 2 for x in xs) / len(xs))) for k in range(d)]
    zs = [[(x[k] - mu[k]) / sd[k] for k in range(d)] for x in xs]
    w, b = [0.0] * d, 0.0
    pos = sum(ys); wp, wn = 0.5 / max(pos, 1), 0.5 / max(len(ys) - pos, 1)
    for _ in range(iterations):
        gw, gb = [0.0] * d, 0.0
        for x, y in zip(zs, ys):
            p = 1 / (1 + math.exp(-max(-30, min(30, b + sum(a * c for a, c in zip(w, x))))))
            e = (p - y) * (wp if y else wn)
            gb += e
            for k in range(d): gw[k] += e * x[k]
        b -= rate * gb * 10
        for k in range(d): w[k] -= rate * (gw[k] * 10 + l2 * w[k])
    return mu, sd, w, b


def mixed(series, feats, model, cols, mix):
    mu, sd, w, b = model
    out = {}
    for s in series:
        scores = [0.0] * s.n
        for i in range(1, s.n):
            score, x = s.trace[i]['score'], feats[s.key][i]
            if x is not None and score >= 0.45:
                p = 1 / (1 + math.exp(-max(-30, min(30, b + sum(w[k] * (x[c] - mu[k]) / sd[k] for k, c in enumerate(cols))))))
                score = score * (1 - mix) + mix * p
            scores[i] = score
        out[s.key] = scores
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'shared', 'data', 'nab', 'data')))
    ap.add_argument('--trace', required=True)
    a = ap.parse_args()
    series = fr.load(a.data, os.path.join(os.path.dirname(os.path.normpath(a.data)), 'windows.json'), a.trace)
    feats = {s.key: features(s) for s in series}
    half_a = [s for s in series if s.category not in fr.HOLDOUT]
    half_b = [s for s in series if s.category in fr.HOLDOUT]
    print('default ' + fr.fmt(fr.evaluate(series, {s.key: [r['score'] if r else 0.0 for r in s.trace] for s in series})))
    for cols in ([0, 2, 3, 8, 9, 10, 11, 13], list(range(14)), [0, 2, 8, 11]):
        fitted_a, fitted_b, fitted_all = (fit(*dataset(part, feats, cols)) for part in (half_a, half_b, series))
        print('features: ' + ', '.join(NAMES[c] for c in cols))
        for mix in (0.2, 0.4, 1.0):
            on_a = fr.evaluate(series, mixed(series, feats, fitted_b, cols, mix))['AWS + artificial']
            on_b = fr.evaluate(series, mixed(series, feats, fitted_a, cols, mix))['tweets + traffic']
            in_sample = fr.evaluate(series, mixed(series, feats, fitted_all, cols, mix))['all']
            print(f'  mix {mix}: ' + fr.fmt({'AWS + artificial (fitted on the other half)': on_a,
                                             'tweets + traffic (fitted on the other half)': on_b, 'all, in-sample': in_sample}), flush=True)


if __name__ == '__main__':
    main()
