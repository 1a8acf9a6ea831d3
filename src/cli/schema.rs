//! `bitspec schema`: write (or `--check`) the JSON Schemas under schema/.

use crate::shared::exit;

pub fn schema(args: &crate::cli::args::SchemaArgs) -> u8 {
    let mut stale = 0;
    for (name, text) in crate::schema::all() {
        let path = args.dir.join(name);
        if args.check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                eprintln!("{} is out of date: run `bitspec schema`", path.display());
                stale += 1;
            }
        } else if let Err(e) =
            std::fs::create_dir_all(&args.dir).and_then(|()| std::fs::write(&path, text))
        {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit::INVALID;
        } else {
            println!("wrote {}", path.display());
        }
    }
    if stale > 0 {
        exit::FAILED
    } else {
        exit::PASSED
    }
}
