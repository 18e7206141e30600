import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

/** Tries to create an ACL through a KRaft controller listener, as kafka-acls
 * --bootstrap-controller does. Args: host:port topic [user password]. Prints CREATED
 * (exit 0) or REFUSED and the cause (exit 1). */
public class ControllerProbe {
  public static void main(String[] args) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.controllers", args[0]);
    p.put("request.timeout.ms", "5000");
    p.put("default.api.timeout.ms", "8000");
    if (args.length > 3) {
      p.put("security.protocol", "SASL_PLAINTEXT");
      p.put("sasl.mechanism", "PLAIN");
      p.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
          + args[2] + "\" password=\"" + args[3] + "\";");
    }
    AclBinding binding = new AclBinding(
        new ResourcePattern(ResourceType.TOPIC, args[1], PatternType.LITERAL),
        new AccessControlEntry("User:intruder", "*", AclOperation.READ, AclPermissionType.ALLOW));
    try (Admin admin = Admin.create(p)) {
      admin.createAcls(List.of(binding)).all().get();
      System.out.println("CREATED");
    } catch (Exception e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      System.out.println("REFUSED " + cause.getClass().getSimpleName() + ": " + cause.getMessage());
      System.exit(1);
    }
  }
}
