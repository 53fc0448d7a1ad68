"""Corpus preparation: raw text -> cleaned, budget-certified text -> tokenizer -> memmapped shards.

Modules (imported on demand; nothing heavy is imported here):
``formats`` (which files, which format, safe reading), ``cleaning`` (one named rule per
phenomenon), ``counting`` (the word and byte-premium rule, written once), ``prepare`` (the
ledger and the budget check), ``tokenizer`` (byte-level BPE), ``tokenize`` (streaming shards),
``shards`` (the on-disk format the trainer reads), ``generator`` (built-in demo data).
"""
