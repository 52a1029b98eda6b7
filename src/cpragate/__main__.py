"""``python -m cpragate`` runs the command line."""

from cpragate.cli.main import main

raise SystemExit(main())
