#!/usr/bin/env python3
"""Estimates the within- and cross-image contrastive loss floors (mean log |P| per anchor) on 128x128 crops
of CamVid train images (a split file of ids as argv[1], e.g. a run's split.txt; else 20 random ones) at stride 4; an approximation of the loader (see docs/results/NOTES.md).
Needs numpy and torchvision (Debian python3-torchvision)."""
import numpy as np, random, sys
from torchvision.io import read_image
root='/work/shared/data/camvid_180x240/'
lines=[l.split()[1] for l in open(root+'train.txt')]
rng=random.Random(0)
if len(sys.argv) > 1:
    ids=set(open(sys.argv[1]).read().split())
    idx=[i for i,l in enumerate(lines) if l.split('/')[-1][:-4] in ids]
else:
    idx=rng.sample(range(len(lines)), 20)
labs=[read_image(root+lines[i])[0].numpy().astype(np.int64) for i in idx]
def crop(lab):
    s=rng.uniform(0.5,2); H,W=lab.shape; h,w=max(1,round(H*s)),max(1,round(W*s))
    ys=(np.arange(h)*H/h).astype(int); xs=(np.arange(w)*W/w).astype(int); L=lab[ys][:,xs]
    out=np.full((128,128),255,np.int64); y0=rng.randint(0,max(0,h-128)); x0=rng.randint(0,max(0,w-128))
    c=L[y0:y0+128,x0:x0+128]; out[:c.shape[0],:c.shape[1]]=c; out[out==11]=255
    return out[1::4,1::4]  # nearest at stride 4 (approximate)
def counts(l):
    v=l[l!=255]; return np.bincount(v,minlength=11), len(v)
fw=[];fc=[];lN=[]
for t in range(2000):
    a=crop(labs[rng.randrange(len(labs))]); b=crop(labs[rng.randrange(len(labs))])
    ca,na=counts(a); cb,nb=counts(b)
    if na==0: continue
    m=ca>0
    fw.append((ca[m]*np.log(ca[m])).sum()/na); lN.append(np.log(na))
    fc.append((ca[m]*np.log(ca[m]+cb[m])).sum()/na)
print('within floor %.3f  cross floor %.3f  uniform (log N) %.3f'%(np.mean(fw),np.mean(fc),np.mean(lN)))
