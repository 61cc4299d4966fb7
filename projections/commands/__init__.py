"""Commands as people give them, over HTTP or from the command line: one table of them.

Each command of the program is a `CommandSpec`: its request model (`DisbursementCreate`),
its answer model (`DisbursementRecorded`), the roles that may give it, the ids it takes
from outside its body (an award's id in the URL, or `--id` on the command line), and how
it is planned: the answer it will give and what it does, signed by the person who acts.
`projections.commands.runner` runs them, once per idempotency key.
"""
