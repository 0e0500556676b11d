from lstmae_cli.cli import main

main()
