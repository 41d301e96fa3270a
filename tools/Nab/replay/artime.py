"""ARTime (adaptive resonance over downsampled windows, the NAB leader) re-derived in Python, to measure how much of
its published score comes from the file's range and length that NAB's wrapper hands it (docs/anomaly-experiments.md,
round 7). Research only, not shipped; Python 3, standard library only. Writes NAB's results layout:

    python3 tools/Nab/replay/artime.py file --out /tmp/artime-file      # the file's range and length (NAB's wrapper)
    python3 tools/Nab/replay/artime.py online --out /tmp/artime-online  # running range, fixed step 6
    dotnet run -c Release --project tools/Nab -- score --results /tmp/artime-file --detector artime

Modes: file, fileRangeFixedStep (the file's range, step 6), fileStepRunningRange (the step from the length, running
range), online (running range, --step, --trend); --raw-box keeps online categories as boxes in raw units.
"""
import argparse
_ap = argparse.ArgumentParser(description='ARTime re-derived (research replay)')
_ap.add_argument('mode', nargs='?', default='online')
_ap.add_argument('--data', default=None)
_ap.add_argument('--out', default=None, help='results folder (default /tmp/artime-MODE)')
_ap.add_argument('--step', type=int, default=6, help='downsampling step in the online mode')
_ap.add_argument('--trend', type=int, default=104, help='downsampled points before alerting in the online mode')
_ap.add_argument('--raw-box', action='store_true')
import math, csv, json, sys, glob, os
OPTS=_ap.parse_args() if __name__=='__main__' else _ap.parse_args([])
RAWBOX=OPTS.raw_box
W=8
def haar(v):
    # full haar dwt (Wavelets.jl ordering: [approx, detail level coarse..fine])
    out=list(v); n=len(v); res=[0.0]*n
    cur=list(v); L=n; details=[]
    while L>1:
        a=[(cur[2*i]+cur[2*i+1])/math.sqrt(2) for i in range(L//2)]
        d=[(cur[2*i]-cur[2*i+1])/math.sqrt(2) for i in range(L//2)]
        details.insert(0,d); cur=a; L//=2
    r=cur[:]
    for d in details: r+=d
    return r
class ART:
    def __init__(s, dim, maxcat=10**9):
        s.dim=dim; s.Wlo=[]; s.Whi=[]; s.rho_lb=0.8; s.rho_ub=0.8; s.maxcat=maxcat
    # categories stored as boxes: lo (min of x) and hi (max of x) per dim; complement coding: W=[lo, 1-hi]
    def nz(s, v):
        if getattr(s,'norm',None) is None: return v
        a,b=s.norm; r=(b-a) if b>a else 1.0
        return v[:W]+[min(1.0,max(0.0,(t-a)/r)) for t in v[W:]]
    def match(s, x):
        res=[]
        d=s.dim
        x=s.nz(x)
        for j in range(len(s.Wlo)):
            lo=s.nz(s.Wlo[j]); hi=s.nz(s.Whi[j])
            num=0.0; nW=0.0
            for k in range(d):
                num+=min(x[k],lo[k])+min(1-x[k],1-hi[k]); nW+=lo[k]+1-hi[k]
            if nW==0: nW=0.001
            fs=num/nW
            ne=min(x[d-1],lo[d-1])+min(1-x[d-1],1-hi[d-1]); nWe=lo[d-1]+1-hi[d-1]
            es=ne/nWe if nWe>0 else 1.0
            res.append((fs**3*es**2, es, j))
        return res
    def train(s, x, learning=True):
        if not s.Wlo:
            s.Wlo.append(list(x)); s.Whi.append(list(x)); return 1, 0.0, 0.0
        ms=s.match(x); ms.sort(reverse=True)
        maxm=0.0; maxe=0.0; mismatch=True; label=-1
        for (m,e,j) in ms:
            if m>maxm: maxm=m; maxe=e
            if not learning: continue
            if m>=s.rho_ub:
                s.Wlo[j]=[min(a,b) for a,b in zip(s.Wlo[j],x)]; s.Whi[j]=[max(a,b) for a,b in zip(s.Whi[j],x)]
                label=j; mismatch=False
            elif m>=s.rho_lb and mismatch:
                s.Wlo.append(list(x)); s.Whi.append(list(x)); label=j; mismatch=False; break
            else: break
        if mismatch and learning:
            label=-1; s.Wlo.append(list(x)); s.Whi.append(list(x))
        return label, maxm, maxe
def similarity(a,b):
    na=math.sqrt(sum(x*x for x in a)); nb=math.sqrt(sum(x*x for x in b))
    if na==0: return 1-nb
    if nb==0: return 1-na
    return sum(x*y for x,y in zip(a,b))/(na*nb)
class ARTime:
    def __init__(s, sstep=6, trend=104, nlevels=80, chomp=0.075, init_rho=0.8, rng=None):
        s.sstep=sstep; s.trend=trend; s.nlevels=nlevels; s.chomp=chomp; s.init_rho=init_rho
        s.mask=int(W*1.5); s.i=1; s.dsw=[0.0]*sstep; s.dsi=1; s.dma=0.0; s.fw=[]
        s.dmin=None; s.dmax=None; s.rng=rng
        s.med=None; s.buf=[]; s.art=ART(2*W)
        s.last_anom_i=0; s.last_anom_sim=0.0; s.last_rho_i=0; s.mask_after_cat=False; s.no_new=0
        s.anom_hist=[]; s.sim_diff=[0.0]*(trend+1); s.sim_win=[1.0]*(trend//2+1); s.rho_ub_sum=0.0; s.rho_ub_n=0
        s.A=[]
    def next(s, v):
        if s.rng: lo,hi=s.rng
        else:
            s.dmin=v if s.dmin is None else min(s.dmin,v); s.dmax=v if s.dmax is None else max(s.dmax,v); lo,hi=s.dmin,s.dmax
        s.dsw.append(v)
        if len(s.dsw)>s.sstep: s.dsw.pop(0)
        an=0.0
        if s.i % s.sstep==0:
            mean=sum(s.dsw)/len(s.dsw); mx=max(s.dsw); mn=min(s.dsw)
            if s.dsi==1: s.dma=mean
            s.dma=(s.dma+mean)/2
            ds=mx
            if abs(mx-s.dma)<abs(mn-s.dma): ds=mn
            if abs(ds-mean)<0.1*abs(mean): ds=mean
            ds=(ds-lo)/(hi-lo) if hi>lo else 0.0
            level=round(ds*s.nlevels); ds=level/s.nlevels
            RAW = (not s.rng) and RAWBOX
            if s.rng:
                # ARTime's levelled running median over the fixed levels
                if not hasattr(s,'medbin'): s.medbin=[0]*(s.nlevels+1); s.medlevel=0; s.below=0; s.above=0
                s.medbin[level]+=1; medpos=s.dsi//2
                if s.dsi==1: s.medlevel=level
                if s.medlevel>level: s.below+=1
                elif s.medlevel<level: s.above+=1
                if medpos<s.above:
                    s.below+=s.medbin[s.medlevel]; s.medlevel+=1
                    while s.medbin[s.medlevel]==0: s.medlevel+=1
                    s.above-=s.medbin[s.medlevel]
                elif medpos<s.below:
                    s.above+=s.medbin[s.medlevel]; s.medlevel-=1
                    while s.medbin[s.medlevel]==0: s.medlevel-=1
                    s.below-=s.medbin[s.medlevel]
                med=s.medlevel/s.nlevels
            else:
                raw=lo+ds*(hi-lo)
                if s.med is None: s.med=raw
                else: s.med+= (0.01*(hi-lo))*(1 if raw>s.med else (-1 if raw<s.med else 0))
                med=(s.med-lo)/(hi-lo) if hi>lo else 0.0
            if abs(ds-med)<s.chomp: ds=med
            s.fw.append(lo+ds*(hi-lo) if RAW else ds)
            if RAW: s.art.norm=(lo,hi)
            if len(s.fw)>W: s.fw.pop(0)
            feats=[0.0]*(2*W)
            if s.dsi>=W:
                dw=[(t-lo)/(hi-lo) if (RAW and hi>lo) else t for t in s.fw]; m0=min(dw); dw=[x-m0 for x in dw]; m1=max(dw)
                if m1!=0: dw=[x/m1 for x in dw]
                fw=haar(dw); a0=min(fw); fw=[x-a0 for x in fw]; a1=max(fw)
                if a1!=0: fw=[x/a1 for x in fw]
                feats=fw+list(s.fw)
            an=s.process(feats, s.dsi)
            s.dsi+=1
        s.i+=1
        return an
    def process(s, f, i):
        if i<=s.trend:
            s.buf.append(f)
            if i==s.trend:
                X=[s.art.nz(x) for x in s.buf[W-1:]]
                n=len(X); sums=[sum(similarity(X[a],X[b]) if a!=b else 1.0 for b in range(n)) for a in range(n)]
                order=sorted(range(n), key=lambda k: sums[k])
                tmp=ART(2*W); tmp.rho_lb=tmp.rho_ub=s.init_rho; As=[]
                for k in order:
                    lab,m,e=tmp.train(X[k]); As.append(m)
                half=As[s.trend//2-1:] if len(As)>s.trend//2 else As
                rho=sum(half)/len(half)
                s.art.rho_lb=s.art.rho_ub=rho
                for k,ff in enumerate(s.buf): s.detect(ff,k+1)
                
            return 0.0
        return s.detect(f,i)
    def detect(s, f, i):
        upd_after=(i-s.last_anom_i)==s.mask
        upd_trend=(i-s.last_rho_i)>=s.trend//2
        mask_after=(i-s.last_anom_i)<=s.mask
        if i>s.trend+s.mask and s.mask_after_cat and s.no_new>=s.mask: s.mask_after_cat=False
        if i<W:
            lab,m,e=s.art.train(f,learning=False); cat=-1
        else:
            lab,m,e=s.art.train(f); cat=lab
        s.no_new=0 if cat==-1 else s.no_new+1
        s.rho_ub_sum+=m; s.rho_ub_n+=1
        s.sim_win.append(m); s.sim_win.pop(0)
        s.sim_diff.append(s.art.rho_ub-m); s.sim_diff.pop(0)
        if (i-s.last_anom_i)<s.mask and s.anom_hist and m<s.anom_hist[-1]: s.anom_hist[-1]=m
        masking=s.mask_after_cat or mask_after
        below_last=m < s.last_anom_sim*(0.9 if mask_after else 0.7)
        an=0.0
        if i>s.trend and cat==-1 and (not masking or below_last):
            fs=min(0.999,m)
            ub=((1-fs)-(1-s.art.rho_ub))/(1-fs); lb=((1-fs)-(1-s.art.rho_lb))/(1-fs)
            an=min(1.0,(ub*0.35+lb*0.65)+(1.0-e)*1.5); an=max(0.0,an)
            s.anom_hist.append(m); s.last_anom_sim=m; s.last_anom_i=i
        s.mask_after_cat = (cat==-1) or s.mask_after_cat
        if i>s.trend and (upd_after or upd_trend):
            minsim=min(s.sim_win); ub=min(0.97, s.rho_ub_sum/s.rho_ub_n); plb=s.art.rho_lb
            if plb<=minsim: nlb=plb+(minsim-plb)*0.19
            else:
                decr=0.0
                if i>s.trend*2:
                    b=[min(0.37,x) for x in s.sim_diff if x>0.05]
                    if b: decr=sum(b)/len(b)
                decr=max(0.01,decr); nlb=plb-decr/2
                if s.anom_hist: nlb=max(sum(s.anom_hist)/len(s.anom_hist), nlb)
            nlb=min(ub,nlb); s.art.rho_lb=nlb; s.art.rho_ub=ub; s.last_rho_i=i; s.mask_after_cat=True
        return an
if __name__=='__main__':
    import time
    mode=OPTS.mode
    outdir=OPTS.out or '/tmp/artime-'+mode
    data=OPTS.data or os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),'..','..','..','..','shared','data','nab','data'))
    import os
    for p in sorted(glob.glob(os.path.join(data,'*','*.csv'))):
        c=p.split('/')[-2]; name=p.split('/')[-1]
        rows=list(csv.reader(open(p)))[1:]; vals=[float(r[1]) for r in rows]; N=len(vals)
        prob=int(0.15*N) if N<5000 else 750; prob-=prob%2
        if mode=='fileRangeFixedStep':
            d=ARTime(sstep=6,trend=104,rng=(min(vals),max(vals)))
        elif mode=='fileStepRunningRange':
            sstep=max(1,round(prob//(W*13))); d=ARTime(sstep=sstep,trend=prob//sstep)
        elif mode=='file':
            prob=int(0.15*N) if N<5000 else 750; prob-=prob%2
            sstep=max(1,round(prob//(W*13))); trend=prob//sstep
            d=ARTime(sstep=sstep,trend=trend,rng=(min(vals),max(vals)))
        else:
            d=ARTime(sstep=OPTS.step,trend=OPTS.trend)
        t=time.time(); sc=[d.next(v) for v in vals]
        os.makedirs(f'{outdir}/artime/{c}',exist_ok=True)
        with open(f'{outdir}/artime/{c}/artime_{name}','w') as fo:
            fo.write('timestamp,value,anomaly_score\n')
            for r,s_ in zip(rows,sc): fo.write(f'{r[0]},{r[1]},{s_}\n')
        print(c,name,N,'cats',len(d.art.Wlo),'alerts',sum(1 for x in sc if x>0),'%.1fs'%(time.time()-t),flush=True)
