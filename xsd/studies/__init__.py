"""The studies: the computations behind each notebook of the book, one module per study
(`world_models`, `token_level`, `feature_adapters`, `live_wallclock`, ...) and the parts they
share (adapter scores, call costs, stage timings, costs files). A study asks `xsd.pipeline` for
what it reads, so a missing step runs first; notebooks import only from here (and plotting)."""
