"""The mini world: procedural driving clips, simulated events, questions and answers.

One module per idea: `scene` (what is in a sequence, the ground truth), `render` (numpy
renderer and RGB camera), `events` (ESIM-style simulator), `frames` (event frames, both
slicings), `video` (mp4 in and out, 8-frame sampling), `qa` (questions, answers in two
styles, grading), `layout` (the study's file layout, atomic writers, checked readers),
`clips` (cutting 1 s clips), `index` (assembling the index files), `build` (the world
builder), `dsec` and `recording` (importers), `dataset` (the reader), `targets` (dense
attributes for tower pretraining), `summary` (numbers for the notebook), `check`
(`xsd data check`), `cli` (the commands).
"""
