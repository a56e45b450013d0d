from sentinel_agent.cli import main

raise SystemExit(main())
