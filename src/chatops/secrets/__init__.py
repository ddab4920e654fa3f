"""Secrets kept in Git: SOPS files read in-process (``sops``), the age identities that
open them (``keys``), the files of a step decrypted only into its run (``staging``), and
plain secrets found before they are committed (``scan``)."""
