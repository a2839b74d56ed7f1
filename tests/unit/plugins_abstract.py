"""A plugin that forgot to implement `compile`: it cannot even be instantiated."""

from specc.backend_api import Backend


class Incomplete(Backend):
    name = "incomplete"


backend = Incomplete()  # type: ignore[abstract]
