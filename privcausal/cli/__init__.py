"""The ``privcausal`` command (:mod:`privcausal.cli.app`), one module a command:

==========================  =====================================================
:mod:`.fit`                 ``privcausal fit``: a private treatment-effect estimate
:mod:`.demo`                ``privcausal demo``: the main job end to end
:mod:`.estimators`          ``privcausal estimators``: the list
:mod:`.attack`              ``privcausal attack membership|reconstruct``
:mod:`.audit`               ``privcausal audit dpsgd|mechanism|model`` (the work in
                            :mod:`.audit_run`)
:mod:`.curves`              ``privcausal curves``: privacy-utility curves
:mod:`.budget`              ``privcausal budget set|show``, and the ledger charge of every
                            release command
:mod:`.domain`              ``privcausal domain draft``: a draft domain file to confirm
==========================  =====================================================

This package is the composition root: the only part of privcausal that imports ``attacks``
and ``audits``.
"""

from privcausal.cli.app import COMMANDS, build_parser, console_main, main

__all__ = ["main", "console_main", "build_parser", "COMMANDS"]
