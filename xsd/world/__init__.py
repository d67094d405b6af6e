"""The mini world: procedural driving clips, simulated events, questions and answers."""
