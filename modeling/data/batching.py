"""Splits to batches: texts in batches for the tokenizer (``as_text_batches``), token ids
(``encode_dataset``), length-grouped batches (``LengthGroupedBatchSampler``) and dynamic right padding
(``collate_batch``), for training and evaluation."""

import functools

import torch
from torch.utils.data import DataLoader, Sampler

from ..config import check_batch_size
from ..inference import pad_sequences


def as_text_batches(ds, text_column, batch_size=1000):
    """Yield lists of texts from a dataset column, for tokenizer training without a Python list."""
    for batch in ds.select_columns([text_column]).iter(batch_size=batch_size):
        yield batch[text_column]


def encode_dataset(ds, tokenizer, text_column, batch_size=1000):
    """Add ``input_ids`` and ``length`` with the tokenizer's fast ``encode_batch`` (batched map)."""

    def encode(batch):
        encodings = tokenizer.encode_batch(batch[text_column])
        return {"input_ids": [e.ids for e in encodings], "length": [len(e.ids) for e in encodings]}

    return ds.map(encode, batched=True, batch_size=batch_size, desc="Tokenizing")


class LengthGroupedBatchSampler(Sampler):
    """Batches of similar lengths, so little compute goes to padding.

    Training (``shuffle=True``): a seeded permutation per epoch is cut into chunks of
    ``batch_size * group_factor`` examples, each chunk sorted by length and cut into batches,
    and the batch order shuffled. Evaluation: batches in order of length. The one short batch
    always comes last, as with ``torch``'s ``BatchSampler``, which Accelerate's sharding expects.
    """

    def __init__(self, lengths, batch_size, shuffle=True, seed=0, group_factor=50, drop_last=False):
        check_batch_size(batch_size)
        self.lengths = torch.as_tensor(list(lengths))
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.group_factor, self.drop_last, self.epoch = group_factor, drop_last, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        n, b = len(self.lengths), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n, b = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = torch.sort(self.lengths, stable=True).indices
            batches = [order[i : i + b].tolist() for i in range(0, n, b)]
        else:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            perm = torch.randperm(n, generator=g)
            chunk = b * self.group_factor
            order = torch.cat([c[torch.sort(self.lengths[c], stable=True).indices] for c in perm.split(chunk)])
            batches = [order[i : i + b].tolist() for i in range(0, n, b)]
            full = batches if len(batches[-1]) == b else batches[:-1]
            short = [] if full is batches else batches[-1:]
            batches = [full[i] for i in torch.randperm(len(full), generator=g).tolist()] + short
        if self.drop_last and batches and len(batches[-1]) < b:
            batches = batches[:-1]
        return iter(batches)


def collate_batch(features, pad_token_id=0):
    """Right-pad a list of ``{"input_ids", "label"}`` dicts to the longest in the batch."""
    input_ids, attention_mask = pad_sequences([f["input_ids"] for f in features], pad_token_id)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if "label" in features[0]:
        batch["labels"] = torch.as_tensor([f["label"] for f in features], dtype=torch.long)
    return batch


def make_dataloader(ds, batch_size, shuffle, seed=0, pad_token_id=0):
    """A ``DataLoader`` over an encoded dataset with length-grouped batches and dynamic padding."""
    lengths = ds["length"] if "length" in ds.column_names else [len(ids) for ids in ds["input_ids"]]
    sampler = LengthGroupedBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
    ds = ds.select_columns([c for c in ("input_ids", "label") if c in ds.column_names])
    # Its own generator: starting an iterator draws a base seed from it, not from the global RNG,
    # so dropout does not depend on how many loaders were started (a run resumed mid-epoch
    # replays the uninterrupted one exactly).
    generator = torch.Generator().manual_seed(seed)
    collate = functools.partial(collate_batch, pad_token_id=pad_token_id)
    return DataLoader(ds, batch_sampler=sampler, collate_fn=collate, generator=generator)
