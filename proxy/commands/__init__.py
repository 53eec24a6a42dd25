"""One module per ``chatwarden`` subcommand."""
