from bpfinspect.cli.main import main

raise SystemExit(main())
