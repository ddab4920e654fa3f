"""Intent files: the contract between a pull request and a host.

``model`` defines the fields, ``yamlsafe`` reads YAML safely, ``loader`` turns a file
into an ``IntentFile`` (or every ``Problem`` with it), ``graph`` checks intents
against each other.
"""
