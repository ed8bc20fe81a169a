"""Game-day scenarios: one module per failure mode, each a steady-state hypothesis checked before, a fault
injected during a migration under load, the decision the harness must take, and post-checks that nothing
was lost. Each module's ``run_<scenario>(stack, protection=True) -> Check`` is the scenario; its test
records the check ``gameday.<scenario>``. ``protection=False`` removes the safeguard the scenario is
about, and the same check must then fail (the scenario's teeth, shown in ``tests/gameday``)."""
