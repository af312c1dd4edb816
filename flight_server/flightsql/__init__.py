"""Flight SQL protocol facts: wire messages, reply schemas, SqlInfo and XDBC type answers."""
