from mlcloud.cli.app import main

main()
