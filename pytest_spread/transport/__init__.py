"""How commands reach a machine: SSH sessions, local scripts, script texts, timeouts and retries."""
