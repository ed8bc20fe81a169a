"""The certification suite: ``pytest --pyargs scenarios.certification --ragmig-source URI --ragmig-target URI``.

One test per check family (schema, parity, quality, latency) on one shared ``VerificationRun``, so each
store is scanned once. ``ragmig certify`` runs this suite and writes the HTML, JSON and JUnit reports.
"""
