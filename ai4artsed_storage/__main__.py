from ai4artsed_storage.cli import main

raise SystemExit(main())
