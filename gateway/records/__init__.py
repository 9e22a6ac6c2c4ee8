"""Decision records: who asked, what the model decided and why, kept private and tamper-evident.

    config.py    the ``[records]`` table and the server's defaults
    build.py     what the request path hands over (``Draft``) -> a stored record
    redact.py    what of the inputs may be kept: tags for identifiers, or a keyed digest
    chain.py     hash chain, signed checkpoints, verification
    schema.py    versioned migrations
    store.py     the store interface (SQL over DB-API); sqlite.py, postgres.py
    writer.py    bounded queue, one thread, group commit
    recorder.py  which models record, the request path's one call, sampled explanations
    cli.py       ``gatewise records verify|query|show|export|purge``; render.py draws ``show``

docs/records.md says what is kept and what never is.
"""

from gatewise.gateway.records.config import RecordsConfig

__all__ = ["RecordsConfig"]
