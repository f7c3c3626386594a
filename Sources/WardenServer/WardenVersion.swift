/// The version `warden --version` prints and `warden_build_info` reports.
public enum WardenVersion {
    public static let current = "0.1.0-dev"
}
