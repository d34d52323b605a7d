"""gensim Word2Vec(sg=1) on a walk corpus, timed, for benches/skipgram.rs.

Usage: gensim_sgns.py CORPUS OUT EPOCHS WORKERS
Prints the gensim version, then `train_seconds S` (training only, vocabulary build excluded,
as kgrec's timing excludes corpus construction), and writes vectors in word2vec text format.
"""
import sys
import time

import gensim
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence

corpus, out, epochs, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
print(gensim.__version__)
model = Word2Vec(
    vector_size=64, window=5, negative=5, sg=1, hs=0, min_count=1, sample=1e-3,
    alpha=0.025, min_alpha=0.0001, workers=workers, seed=1,
)
model.build_vocab(corpus_file=corpus)
start = time.perf_counter()
model.train(
    corpus_file=corpus, epochs=epochs, total_examples=model.corpus_count,
    total_words=model.corpus_total_words,
)
print(f"train_seconds {time.perf_counter() - start:.3f}")
model.wv.save_word2vec_format(out)
