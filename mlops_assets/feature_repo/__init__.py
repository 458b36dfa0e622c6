"""The Feast feature repository as code: objects, store config, offline partitions and fast joins.

Nothing here imports `feast` at module load (it costs 6-8 s); the functions that need it do.
"""
