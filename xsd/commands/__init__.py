"""The `xsd` command's sub-commands, one module per group; `xsd.cli` lists them in COMMAND_MODULES."""
