"""Tasks beyond images, one module per modality (each registers through the trainer's plugin).

* :mod:`nasforge.trainer.tasks.text` — text classification from scratch: CSV datasets (SST-2,
  TREC, AG News or any CSV), a vocabulary built from the training split, the ``text`` space
  (CNN with several kernel widths, LSTM, GRU, Transformer encoder).
* :mod:`nasforge.trainer.tasks.speech` — spoken digits (Free Spoken Digit Dataset): WAV files
  read with the standard library's ``wave``, log-mel features by ``torch.stft``, the ``crnn``
  space (CNN stages with an optional recurrent head).
* :mod:`nasforge.trainer.tasks.recsys` — recommendation on MovieLens: implicit feedback with
  sampled negatives (HR@10 / NDCG@10 under the NCF leave-one-out protocol) and rating
  regression (RMSE), the ``ncf`` space (GMF, MLP, NeuMF).

None of them needs a dependency the trainer does not already have (torch, numpy, Pillow), so
they live in the trainer's distribution rather than in distributions of their own; a user who
only wants text reads only ``tasks/text.py``. See docs/tasks.md.
"""
