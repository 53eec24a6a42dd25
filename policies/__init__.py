"""Policy files and the engine that compiles them into a decision table."""
