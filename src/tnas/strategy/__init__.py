"""Search loops: one-shot supernet training, gradient steps, evolution and query-based searches.

Query searches are registered in `tnas.strategy.discrete.SEARCHES`. The run-level strategies
(`tnas search strategy=...`) get their own `tnas.registry.Registry` with the run skeleton
(issue 11 item 1), in `tnas.run`: one job class per strategy name.
"""
