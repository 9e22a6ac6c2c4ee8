"""Every hook a Gatewise plugin can implement.

Model hooks run only for the models whose ``config.toml`` names the plugin
(``plugin = "finance"``); cross-cutting hooks run in every plugin, for every model.
Implement any subset; accept any subset of a hook's arguments. Hooks run in a worker
thread, never on the event loop, so blocking work (tokenising, file reads) is fine —
with one exception: ``gatewise_redact_log`` runs in whichever thread writes a log line,
the event loop included, so it must be quick and must not block.

Order for one model: ``gatewise_model_load`` -> ``gatewise_model_signature`` ->
``gatewise_warmup_inputs`` (then the model is ready), then per batch
``gatewise_preprocess`` -> engine -> ``gatewise_postprocess``, per row a client asked to have
explained ``gatewise_explainer`` (its perturbed rows then run as ordinary batches), and per
request ``gatewise_request_finished`` (in the audit thread). ``gatewise_redact_log`` runs per
log line.
"""

from __future__ import annotations

import pluggy
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import Explainer

PROJECT = "gatewise"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------
# Model lifecycle (model hooks: only the plugin named in config.toml)
# --------------------------------------------------------------------------------------


@hookspec
def gatewise_model_load(model: ModelContext) -> None:
    """Called once per model version, after its engine loaded and before any request.

    Read assets (tokenizer, catalog, thresholds) into ``model.state``. Raising fails the
    load of this model only: it is reported as UNAVAILABLE with the error, and the other
    models keep serving. Returns nothing.
    """


@hookspec(firstresult=True)
def gatewise_model_signature(model: ModelContext) -> Signature | None:
    """Called once per model version, after ``gatewise_model_load``.

    Returns the public inputs and outputs that clients see in ModelMetadata and must send;
    the gateway checks every request against them before it is queued. Returning None
    keeps the engine's own signature. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def gatewise_warmup_inputs(model: ModelContext) -> Tensors | None:
    """Called once per model version, before it is marked ready.

    Returns a small batch of public inputs that exercises the whole path (plugin and
    engine); it runs once and its result is discarded. Returning None warms up with two rows
    shaped like the model's public inputs (the signature ``gatewise_model_signature``
    returned, else the engine's), dynamic dimensions set to 8, zeros for numeric tensors and
    empty strings for BYTES; for a plugin whose preprocess cannot take that, return real
    inputs. Stops at first non-None result.
    """


# --------------------------------------------------------------------------------------
# Request path (model hooks: only the plugin named in config.toml)
# --------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def gatewise_preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors | None:
    """Called once per batch, in a worker thread, before the engine runs.

    ``inputs`` holds the public input tensors of every request in the batch, rows
    concatenated; ``batch`` says which request sent each row and carries state to
    ``gatewise_postprocess``. Returns the engine's input tensors (batch dimension first,
    one row per public row). Raise ``ValueError`` (or ``gatewise.InvalidInput``) for
    input the plugin cannot accept: the request that sent it gets INVALID_ARGUMENT, others
    in the batch are retried alone. Any other exception is INTERNAL. Stops at first
    non-None result; None passes the inputs to the engine unchanged.
    """


@hookspec(firstresult=True)
def gatewise_postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors | None:
    """Called once per batch, in a worker thread, after the engine ran.

    ``outputs`` are the engine's outputs. Returns the public output tensors, each with one
    row per public input row (first dimension = ``batch.size``), so the gateway can hand
    each request its own rows. Stops at first non-None result; None returns the engine's
    outputs unchanged.
    """


@hookspec(firstresult=True)
def gatewise_explainer(model: ModelContext, inputs: Tensors, outputs: Tensors, parameters: dict) -> Explainer | None:
    """Called once per row a client asked to have explained, in a worker thread, after the
    row was inferred; only for models whose signature lists the ``explanation`` output
    (``gatewise.EXPLANATION_OUTPUT``).

    ``inputs`` and ``outputs`` hold that one row's public tensors (first dimension 1);
    ``parameters`` are the request's (``explain_label`` names the class to explain).
    Returns an ``Explainer``: the units to weigh (words of the text *after* redaction, a
    masked span as one unit whose text is its tag; or features), how to build public
    inputs for any coalition of kept units, and which output number is explained. The
    gateway picks the coalitions (exact Shapley values where ``explain_samples`` allows
    every one, else KernelSHAP with a fixed seed), runs them through this model's batcher
    as ordinary rows and answers with ``{"label", "target", "base_value", "value",
    "attributions": [{"text", "start", "end", "weight"} | {"feature", "value", "weight"}]}``.
    Raise ``ValueError`` for a bad ``explain_label`` (INVALID_ARGUMENT). Stops at first
    non-None result; None answers INVALID_ARGUMENT "cannot explain". See docs/explanations.md.
    """


# --------------------------------------------------------------------------------------
# Cross-cutting (every plugin, every model)
# --------------------------------------------------------------------------------------


@hookspec
def gatewise_request_finished(
    model_name: str,
    model_version: str,
    request_id: str,
    principal: str,
    principal_via: str,
    status: str,
    rows: int,
    duration_s: float,
    method: str,
) -> None:
    """Called once per inference request after its answer is known, whatever the outcome,
    and once per call the auth interceptor refused.

    For audit trails: who (``principal``: "anonymous" without authentication,
    "<unauthenticated>" for a call refused UNAUTHENTICATED), proved how (``principal_via``:
    "key", "jwt", "certificate", or "none" where no credential proved it: judge by this, never
    by the name, which a key or a JWT subject may also spell "anonymous") called which model (the name the
    client sent; "" where the refused call's body was never parsed), when, with what status
    ("OK" or a gRPC status name, e.g. "PERMISSION_DENIED"), through which RPC (``method``:
    "ModelInfer", "ModelStreamInfer", or the refused RPC's name) and how many rows (0 for a
    refused call). It never receives payloads, by design.

    It runs in the gateway's single audit thread, after the answer was sent, in the order
    requests finished: a slow implementation delays only the audit trail, never a request
    (past 10,000 waiting events new ones are dropped and counted in
    ``gatewise_audit_dropped_total``). Results are ignored; an exception is logged and
    swallowed so auditing cannot fail a request, nor keep another plugin from recording it.
    """


@hookspec
def gatewise_redact_log(message: str, logger: str, level: int) -> str | None:
    """Called for every record of a ``gatewise`` logger (``gatewise.*``) that a handler of
    the root logger is about to write, while a server runs; also for its traceback text.

    For cross-cutting redaction of logs (defence in depth: code should not log payloads in
    the first place). Receives the formatted ``message`` (arguments merged), the ``logger``
    name and the numeric ``level``. Returns the message to write instead, or None to keep it.

    Not firstresult: every plugin's implementation runs, each receiving the message as the
    ones before it returned it (pluggy's call order). Runs in the thread that logs, which may
    be the event loop: keep it quick, never block, never log from it. An implementation that
    raises is skipped (the others still apply) and reported once; logging never fails.
    The built-in ``log-redaction`` plugin masks card numbers, IBANs, emails, SSNs and phone
    numbers.
    """
