"""``gatewise bench``: what the gateway costs on top of its engine, in figures.

1. In-process limit (``inprocess``): the model's plugin + engine called directly, no gRPC,
   no queue, at batch 1 and at the batcher's max batch size.
2. Through gRPC (``clients``): a real server process (``server``) and closed-loop clients,
   unary and streaming, and perf_analyzer when it can start (``perf_analyzer``); plus the
   floor under any gRPC server on this machine, an empty call after the same wait.
3. ``run`` interleaves them in rounds (perf_analyzer once, after them) and prints the table
   and the ratios. Nothing asserts. ``workload`` holds the sentences every row sends.
"""
